"""Builders of tiny BraTS and FLARE trees in their official layouts (real NIfTI, int16)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (20, 24, 14)  # x, y, z: non-cubic
BRATS_AFFINE = np.array([[-1.0, 0, 0, 10], [0, -1.25, 0, 15], [0, 0, 1.5, -10], [0, 0, 0, 1]])
FLARE_AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
# Raw intensity of each modality in brain, core (1), oedema (2), enhancing (4): flair is bright
# in the oedema, t1ce in the enhancing rim, t2 in the core, t1 dark in the whole tumour.
BRATS_CONTRAST = {
    "flair": (100, 100, 400, 100),
    "t1": (100, 30, 30, 30),
    "t1ce": (100, 100, 100, 400),
    "t2": (100, 400, 100, 100),
}


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")


def brats_case(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Four skull-stripped modalities (int16) and a seg with BraTS values 0, 1, 2, 4."""
    x, y, z = _grid()
    brain = ((x - 9.5) / 8.5) ** 2 + ((y - 11.5) / 10.5) ** 2 + ((z - 6.5) / 6) ** 2 < 1
    cx, cy, cz = rng.integers(8, 12), rng.integers(9, 15), rng.integers(6, 8)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + ((z - cz) * 1.5) ** 2)
    seg = np.zeros(SHAPE, np.uint8)
    seg[r < 5.0] = 2
    seg[r < 3.2] = 4
    seg[r < 1.8] = 1
    seg[~brain] = 0
    index = np.select([seg == 1, seg == 2, seg == 4], [1, 2, 3], 0)
    images = {}
    for name, contrast in BRATS_CONTRAST.items():
        value = np.asarray(contrast, np.float32)[index] + rng.normal(0, 5, SHAPE)
        images[name] = np.where(brain, value, 0).astype(np.int16)
    return images, seg


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def brats_tree(root: Path, n: int = 4, grades: bool = True, ending: str = ".nii.gz") -> Path:
    """BraTS 2019 (``HGG/``, ``LGG/`` grade folders) or 2020/2021 (flat) training tree."""
    rng = np.random.default_rng(0)
    for i in range(n):
        case = f"BraTS19_TCIA_{i:03d}_1"
        folder = root / (("HGG", "LGG")[i % 2] if grades else "") / case
        images, seg = brats_case(rng)
        for name, image in images.items():
            _save(image, BRATS_AFFINE, folder / f"{case}_{name}{ending}")
        _save(seg, BRATS_AFFINE, folder / f"{case}_seg{ending}")
    (root / "name_mapping.csv").write_text("Grade,BraTS_2019_subject_ID\n")
    return root


# (label, HU, centre, radii) in voxels of SHAPE
FLARE_ORGANS = ((1, 90, (6, 9, 7), (5, 7, 5)), (2, 200, (14, 16, 6), (3, 3, 3)),
                (3, 160, (14, 7, 7), (3, 3, 3)), (4, 120, (7, 18, 7), (3, 2, 3)))
FLARE_FOLDERS = {"flare22": ("images", "labels"), "nnunet-like": ("imagesTr", "labelsTr"),
                 "flare21": ("TrainingImg", "TrainingMask")}


def flare_case(rng: np.random.Generator, flare22: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A CT volume in HU (int16; body -100 HU in air) and FLARE21 labels 1-4, or FLARE22's
    (the left kidney as 13 and an aorta as 5)."""
    x, y, z = _grid()
    hu = np.full(SHAPE, -1000.0, np.float32)
    hu[((x - 9.5) / 9.5) ** 2 + ((y - 11.5) / 11.5) ** 2 < 1] = -100.0
    label = np.zeros(SHAPE, np.uint8)
    for value, level, centre, radii in FLARE_ORGANS:
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip((x, y, z), centre, radii)) < 1
        hu[inside], label[inside] = level, value
    if flare22:
        label[(label == 2) & (x > 14)] = 13  # FLARE22 left kidney
        aorta = ((x - 10) ** 2 + (y - 13) ** 2) < 1.5
        label[aorta & (label == 0)] = 5
    hu += rng.normal(0, 4, SHAPE)
    return hu.astype(np.int16), label


def flare_tree(root: Path, n: int = 3, style: str = "flare22") -> Path:
    """FLARE images + labels folders: ``CASE_0000.nii.gz`` images, ``CASE.nii.gz`` labels."""
    images, labels = FLARE_FOLDERS[style]
    rng = np.random.default_rng(1)
    prefix = "FLARE22_Tr_" if style == "flare22" else "train_"
    for i in range(n):
        case = f"{prefix}{i + 1:04d}"
        hu, label = flare_case(rng, flare22=style == "flare22")
        _save(hu, FLARE_AFFINE, root / images / f"{case}_0000.nii.gz")
        _save(label, FLARE_AFFINE, root / labels / f"{case}.nii.gz")
    return root
