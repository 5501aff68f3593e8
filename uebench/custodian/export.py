"""Write a dataset's cases as a Medical Segmentation Decathlon folder of NIfTI files.

Used to hand a generated cohort to other tools, and to exercise ``decathlon:PATH`` on real
NIfTI files: each case is cropped to its foreground-bearing bounding box (non-cubic), stored
as int16 (intensity x 1000) with a proper affine from its spacing, and labels get the
original value set back when one is given (BraTS: 1, 2, 3 -> 1, 2, 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from uebench.contracts.core import Case, Dataset

BRATS_LABEL_VALUES = (0, 1, 2, 4)


def _crop_box(image: np.ndarray) -> tuple[slice, ...]:
    nonzero = np.argwhere(image.max(0) > 0)
    low, high = nonzero.min(0), nonzero.max(0) + 1
    return tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high))


def _to_nifti_axes(volume: np.ndarray) -> np.ndarray:
    """``[..., D(z), H(y), W(x)]`` -> NIfTI ``(x, y, z, ...)``."""
    spatial = volume.ndim - 3
    order = (volume.ndim - 1, volume.ndim - 2, volume.ndim - 3, *range(spatial))
    return np.ascontiguousarray(volume.transpose(order))


def export_decathlon(dataset: Dataset, cases: list[Case], out: Path,
                     label_values: tuple[int, ...] | None = None) -> Path:
    """Write ``dataset.json``, ``imagesTr`` (4D int16) and ``labelsTr`` under ``out``."""
    out = Path(out)
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    values = label_values or tuple(range(dataset.n_classes))
    lookup = np.asarray(values, dtype=np.uint8)
    training = []
    for case in cases:
        box = _crop_box(case.image)
        image = case.image[(slice(None), *box)]
        label = lookup[case.label[box]]
        affine = np.diag([*case.spacing[::-1], 1.0])
        name = f"{case.id}.nii.gz"
        image_nifti = nib.Nifti1Image(_to_nifti_axes(np.rint(image * 1000).astype(np.int16)),
                                      affine)
        nib.save(image_nifti, out / "imagesTr" / name)
        nib.save(nib.Nifti1Image(_to_nifti_axes(label), affine), out / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    names = ["background", *dataset.class_names]
    meta = {
        "name": dataset.name,
        "description": f"exported by uebench from {dataset.name}",
        "modality": {str(i): m for i, m in enumerate(dataset.modalities)},
        "labels": {str(v): n for v, n in zip(values, names)},
        "numTraining": len(cases),
        "training": training,
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2))
    return out
