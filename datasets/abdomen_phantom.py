"""``abdomen-phantom``: a FLARE-like abdominal CT phantom (liver, kidneys, spleen, pancreas).

Each subject is an analytic phantom evaluated on a randomly deformed grid (affine + elastic):
body with a fat layer, spine with canal, aorta and bowel loops as unlabelled distractors, and
the four FLARE organs as noise-bounded ellipsoids, plus smooth tissue texture and scanner noise.
Windowed at centre 50 / width 400 HU to [0, 1] as the reference. Labels: 1 liver, 2 kidney,
3 spleen, 4 pancreas (FLARE21).

Calibration (version 3): the organs have adult volumes in the 300 x 400 x 400 mm field of view
(liver about 1 L, spleen about 0.15 L, each kidney about 0.1 L, pancreas about 0.1 L: at 64^3
about 5,400 / 750 / 500 / 600 voxels; version 1 had 40-80 % of the liver, kidney and spleen
volume and a third of the pancreas, so spleen and pancreas were a few voxels thick), and the HU
values are those of a late arterial (pancreatic) phase, in which the four organs enhance
differently: liver 75, pancreas 120, spleen 160, kidney cortex 200, aorta 280 HU (soft tissue
35, fat -100, with perirenal and peripancreatic fat around the kidneys and pancreas), and
scanner noise is 10 HU. With that a clean-trained unet learns all four organs within the
``quick`` preset's 10 epochs.
"""

from __future__ import annotations

import numpy as np

from uebench.contracts.core import Case, Dataset, Preset
from uebench.contracts.registry import register_dataset
from uebench.datasets.synthesis import deformed_grid, smooth_field
from uebench.runner.progress import progress

WINDOW_CENTRE, WINDOW_WIDTH = 50.0, 400.0
FIELD_OF_VIEW_MM = (300.0, 400.0, 400.0)  # z, y, x
# label, HU, centre (z, y, x) and radii in [-1, 1] coordinates; y grows towards the back.
ORGANS = (
    ("liver", 1, 75.0, (0.30, -0.05, -0.40), (0.40, 0.35, 0.33)),
    ("kidney_right", 2, 200.0, (-0.20, 0.30, -0.38), (0.30, 0.12, 0.12)),
    ("kidney_left", 2, 200.0, (-0.12, 0.30, 0.38), (0.30, 0.12, 0.12)),
    ("spleen", 3, 160.0, (0.32, 0.20, 0.56), (0.28, 0.16, 0.13)),
    ("pancreas", 4, 120.0, (0.05, 0.10, 0.12), (0.13, 0.11, 0.30)),
)
RETROPERITONEAL = ("kidney_right", "kidney_left", "pancreas")
FAT_MARGIN = 0.035  # the fat around the retroperitoneal organs, in [-1, 1] units (about 6 mm)


def _ellipsoid(coords: np.ndarray, centre, radii, roughness: np.ndarray) -> np.ndarray:
    distance = np.sum(((coords - np.asarray(centre)) / np.asarray(radii)) ** 2, axis=-1)
    return distance + roughness < 1.0


def phantom(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One subject: HU volume and labels, both ``[size]^3`` (z, y, x)."""
    coords = deformed_grid(size, rng, max_rotation_deg=6.0, elastic=0.05)
    y, x = coords[..., 1], coords[..., 2]
    hu = np.full(coords.shape[:3], -1000.0, np.float32)
    labels = np.zeros(coords.shape[:3], np.uint8)
    body_a, body_b = rng.uniform(0.80, 0.92), rng.uniform(0.58, 0.68)
    body = (x / body_a) ** 2 + (y / body_b) ** 2 < 1.0
    inner = (x / (body_a - 0.07)) ** 2 + (y / (body_b - 0.07)) ** 2 < 1.0
    hu[body] = -100.0
    hu[inner] = 35.0
    for _ in range(int(rng.integers(4, 8))):  # bowel loops: gas or fluid
        centre = (rng.uniform(-0.8, 0.6), rng.uniform(-0.4, 0.05), rng.uniform(-0.5, 0.5))
        loop = _ellipsoid(coords, centre, rng.uniform(0.06, 0.14, 3), 0.0) & inner
        hu[loop] = rng.choice([-600.0, 15.0])
    aorta = ((x - 0.08) ** 2 + (y - 0.26) ** 2) < 0.05**2
    hu[aorta & inner] = 280.0
    spine = (x**2 + (y - 0.45) ** 2) < 0.12**2
    hu[spine & body] = 650.0
    hu[(x**2 + (y - 0.45) ** 2) < 0.045**2] = 20.0
    placed = []
    for name, label, value, centre, radii in ORGANS:
        jitter = np.asarray(centre) + rng.uniform(-0.04, 0.04, 3)
        scaled = np.asarray(radii) * rng.uniform(0.85, 1.15, 3)
        placed.append((label, value, jitter, scaled, 0.3 * smooth_field(size, rng, coarse=5)))
        if name in RETROPERITONEAL:  # perirenal and peripancreatic fat
            hu[_ellipsoid(coords, jitter, scaled + FAT_MARGIN, 0.0) & inner] = -90.0
    for label, value, jitter, scaled, roughness in placed:
        organ = _ellipsoid(coords, jitter, scaled, roughness) & inner
        hu[organ] = value + rng.normal(0.0, 8.0)
        labels[organ] = label
    hu += 10.0 * smooth_field(size, rng, coarse=12) + rng.normal(0.0, 10.0, hu.shape)
    return hu.astype(np.float32), labels


def window(hu: np.ndarray) -> np.ndarray:
    """CT window centre 50 / width 400 HU mapped to [0, 1] (the reference preprocessing)."""
    low = WINDOW_CENTRE - WINDOW_WIDTH / 2
    return np.clip((hu - low) / WINDOW_WIDTH, 0.0, 1.0).astype(np.float32)


@register_dataset("abdomen-phantom")
class AbdomenPhantom(Dataset):
    """FLARE-like CT phantom with the four FLARE21 organs."""

    version = "3"
    class_names = ("liver", "kidney", "spleen", "pancreas")
    modalities = ("CT",)

    def build(self, preset: Preset, seed: int) -> list[Case]:
        size = preset.volume_size
        spacing = tuple(fov / size for fov in FIELD_OF_VIEW_MM)
        cases = []
        for i in progress(range(preset.n_cases), "abdomen-phantom: synthesising"):
            hu, labels = phantom(size, np.random.default_rng([seed, i]))
            cases.append(Case(f"abdomen-{i:03d}", window(hu)[None], labels, spacing))
        return cases
