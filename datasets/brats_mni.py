"""``brats-mni``: a BraTS-like glioma cohort built on the real MNI152 anatomy that nilearn ships.

Each pseudo-subject is the MNI152 2 mm template (T1, grey- and white-matter probability maps,
brain mask; shipped inside the nilearn wheel, no download; MNI licence notice in the README)
under a random affine + elastic deformation, with a synthetic tumour (necrotic core, enhancing
rim, surrounding oedema with an irregular, noise-modulated boundary), four pseudo-modalities
with the usual contrasts, a multiplicative bias field and noise. Labels follow BraTS
(1 necrotic core, 2 oedema, 4 enhancing -> mapped to 1, 2, 3 as the reference code does).
Preprocessing as the reference: per-modality z-score inside the brain mask, clip to +-5, map
to [0, 1] by ``(z + 5) / 10``; voxels outside the brain are 0 (skull-stripped, as BraTS).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from uebench.contracts.core import Case, Dataset, Preset
from uebench.contracts.registry import register_dataset
from uebench.datasets.synthesis import deformed_grid, sample, smooth_field, soften
from uebench.runner.progress import progress

ATLAS_EDGE = 120  # the 2 mm template padded to a 240 mm cube
TISSUE_CONTRAST = {  # white matter, grey matter, CSF
    "t1ce": (0.80, 0.60, 0.25),
    "t2": (0.45, 0.60, 1.00),
    "flair": (0.50, 0.62, 0.15),
}
TUMOUR_CONTRAST = {  # necrotic core, oedema, enhancing rim
    "t1": (0.30, 0.55, 0.50),
    "t1ce": (0.25, 0.55, 1.25),
    "t2": (0.95, 0.85, 0.70),
    "flair": (0.55, 1.00, 0.80),
}


NATIVE_RESOLUTIONS = (1, 2)  # mm: the MNI152 grids nilearn ships


@lru_cache(maxsize=2)
def mni_template(resolution: int = 2) -> np.ndarray:
    """``[4, Z, Y, X]`` = T1 (0..1), GM, WM, brain mask of MNI152 on its own grid at
    ``resolution`` mm (2 mm: 95 x 117 x 99; 1 mm: 189 x 233 x 197)."""
    from nilearn.datasets import (
        load_mni152_brain_mask,
        load_mni152_gm_template,
        load_mni152_template,
        load_mni152_wm_template,
    )

    maps = [load_mni152_template, load_mni152_gm_template, load_mni152_wm_template,
            load_mni152_brain_mask]
    volumes = [np.asarray(f(resolution=resolution).get_fdata(), dtype=np.float32)
               for f in maps]
    stack = np.stack([v.transpose(2, 1, 0) for v in volumes])  # (x, y, z) -> (z, y, x)
    stack[0] /= max(float(stack[0].max()), 1e-6)
    return stack


@lru_cache(maxsize=1)
def mni_atlas() -> np.ndarray:
    """``[4, Z, Y, X]`` = the 2 mm template (``mni_template``) padded to a 240 mm cube."""
    stack = mni_template(2)
    pads = [(0, 0)] + [((ATLAS_EDGE - n) // 2, ATLAS_EDGE - n - (ATLAS_EDGE - n) // 2)
                       for n in stack.shape[1:]]
    return np.pad(stack, pads)


def tumour_labels(brain: np.ndarray, rng: np.random.Generator,
                  extent: tuple[float, float, float] | None = None) -> np.ndarray:
    """A glioma inside ``brain``: core (1), oedema (2) and enhancing rim (3) as nested shells.
    Sizes are relative to the 240 mm cube; a grid of another ``extent`` (mm per axis, the
    native form) is measured in the same millimetres."""
    shape = brain.shape
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    if extent is not None:
        axes = [a * np.float32(e / (2.0 * ATLAS_EDGE)) for a, e in zip(axes, extent)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    inside = np.argwhere(brain)
    centre_voxel = inside[rng.integers(len(inside))]
    centre = centre_voxel / (np.asarray(shape) - 1) * 2 - 1
    if extent is not None:
        centre = centre * np.asarray(extent) / (2.0 * ATLAS_EDGE)
    centre = 0.55 * centre  # keep it away from the cortex
    radius = rng.uniform(0.28, 0.40) * rng.uniform(0.85, 1.15, 3)
    distance = np.linalg.norm((coords - centre) / radius, axis=-1)
    distance *= 1.0 + 0.25 * smooth_field(shape, rng, coarse=6)
    core_edge, rim_edge = rng.uniform(0.45, 0.55), rng.uniform(0.70, 0.80)
    labels = np.zeros(brain.shape, np.uint8)
    labels[distance < 1.0] = 2
    labels[distance < rim_edge] = 3
    labels[distance < core_edge] = 1
    labels[~brain] = 0
    return labels


def synthesise_modalities(
    atlas: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Four pseudo-modalities ``[4, D, H, W]`` (t1, t1ce, t2, flair) in raw scanner units."""
    t1, gm, wm, mask = atlas
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    tumour = [soften(labels == k) for k in (1, 2, 3)]
    healthy = np.clip(1.0 - sum(tumour), 0.0, 1.0)
    channels = []
    for name in ("t1", "t1ce", "t2", "flair"):
        if name == "t1":
            base = t1
        else:
            w, g, c = TISSUE_CONTRAST[name]
            base = w * wm + g * gm + c * csf
        value = healthy * base + sum(t * v for t, v in zip(tumour, TUMOUR_CONTRAST[name]))
        bias = np.exp(0.12 * smooth_field(labels.shape, rng, coarse=4))
        noise = rng.normal(0.0, 0.03, labels.shape).astype(np.float32)
        channels.append((value * bias + noise) * mask)
    return np.stack(channels).astype(np.float32)


def normalise(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Per-modality z-score inside the brain, clip +-5, map to [0, 1]; background 0."""
    out = np.zeros_like(image)
    for c, channel in enumerate(image):
        values = channel[brain]
        z = (channel - values.mean()) / max(float(values.std()), 1e-6)
        out[c] = np.where(brain, (np.clip(z, -5.0, 5.0) + 5.0) / 10.0, 0.0)
    return out.astype(np.float32)


@register_dataset("brats-mni")
class BratsMNI(Dataset):
    """BraTS-like cohort on real MNI152 anatomy (default dataset)."""

    version = "2"
    class_names = ("necrotic_core", "oedema", "enhancing")
    modalities = ("t1", "t1ce", "t2", "flair")
    regions = {"ET": (3,), "TC": (1, 3), "WT": (1, 2, 3)}
    supports_native = True

    def build(self, preset: Preset, seed: int) -> list[Case]:
        """Cubes of ``preset.volume_size`` over the padded 240 mm atlas; under a native preset
        the MNI152 grid itself, at ``target_spacing`` 2 mm (the default) or 1 mm."""
        if preset.native:
            resolution = preset.target_spacing or 2.0
            if resolution not in NATIVE_RESOLUTIONS:
                raise ValueError(f"brats-mni's native form is the MNI152 grid at 1 or 2 mm; "
                                 f"preset {preset.name!r} asks for {resolution:g} mm")
            atlas = mni_template(int(resolution))
            shape, spacing = atlas.shape[1:], float(resolution)
            extent = tuple(n * spacing for n in shape)
        else:
            atlas = mni_atlas()
            shape, spacing, extent = preset.volume_size, 2.0 * ATLAS_EDGE / preset.volume_size, None
        cases = []
        for i in progress(range(preset.n_cases), "brats-mni: synthesising"):
            rng = np.random.default_rng([seed, i])
            warped = sample(atlas, deformed_grid(shape, rng, extent=extent))
            brain = warped[3] > 0.5
            labels = tumour_labels(brain, rng, extent=extent)
            raw = synthesise_modalities(warped, labels, rng)
            cases.append(Case(f"brats-mni-{i:03d}", normalise(raw, brain), labels,
                              (spacing,) * 3))
        return cases
