"""Builders of small decathlon folders from real NIfTI files (nibabel headers, int16)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (20, 24, 14)  # x, y, z: non-cubic
AFFINE = np.diag([1.5, 1.25, 3.0, 1.0])


def _case(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    label = np.zeros(SHAPE, np.uint8)
    cx, cy, cz = rng.integers(6, 14), rng.integers(6, 18), rng.integers(4, 10)
    label[cx - 4 : cx + 4, cy - 4 : cy + 4, cz - 3 : cz + 3] = 1
    label[cx - 2 : cx + 2, cy - 2 : cy + 2, cz - 1 : cz + 1] = 2
    image = rng.normal(100, 20, (*SHAPE, channels)) + 300.0 * label[..., None]
    return image.astype(np.int16), label


def msd_folder(root: Path, n: int = 4, channels: int = 2) -> Path:
    """MSD layout: 4D images, a ``training`` list in dataset.json."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    training = []
    for i in range(n):
        image, label = _case(rng, channels)
        nib.save(nib.Nifti1Image(image, AFFINE), root / "imagesTr" / f"case_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(label, AFFINE), root / "labelsTr" / f"case_{i:03d}.nii.gz")
        training.append({"image": f"./imagesTr/case_{i:03d}.nii.gz",
                         "label": f"./labelsTr/case_{i:03d}.nii.gz"})
    meta = {"name": "Toy", "modality": {str(c): "MRI" for c in range(channels)},
            "labels": {"0": "background", "1": "lesion", "2": "core"},
            "numTraining": n, "training": training}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def nnunet_folder(root: Path, n: int = 4) -> Path:
    """nnU-Net v2 layout: per-channel ``_0000`` files, no list, a CT channel."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        image, label = _case(rng, 1)
        nib.save(nib.Nifti1Image(image[..., 0], AFFINE),
                 root / "imagesTr" / f"ct_{i:03d}_0000.nii.gz")
        nib.save(nib.Nifti1Image(label, AFFINE), root / "labelsTr" / f"ct_{i:03d}.nii.gz")
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1, "core": 2},
            "numTraining": n, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root
