"""``brats:PATH``: a BraTS 2019-2021 training tree, read from its official layout.

One folder per case, ``CASE/CASE_flair.nii.gz``, ``_t1``, ``_t1ce``, ``_t2`` and ``_seg``
(``.nii.gz`` or ``.nii``), either directly in PATH (BraTS 2020, 2021) or one level down in
grade folders such as ``HGG/`` and ``LGG/`` (BraTS 2019). A case file may carry another prefix
than its folder's name (``CASE/anything_flair.nii``) when exactly one file has that suffix.
Files that are not NIfTI (``name_mapping.csv``, ``survival_info.csv``) are ignored.

Labels 0, 1 (necrotic / non-enhancing core), 2 (oedema), 4 (enhancing) are mapped to 0, 1, 2,
3 as ``brats-mni`` and the reference code do, with the same class names and the BraTS
evaluation regions ET (4), TC (1+4), WT (1+2+4). Preprocessing as the reference
(../shared/spec/voxshield.md): the four modalities in the order flair, t1, t1ce, t2, each
z-scored inside the brain (the voxels where any modality is non-zero: BraTS is skull-stripped),
clipped to +-5 and mapped to [0, 1] by ``(z + 5) / 10``, 0 outside the brain (the function
``brats-mni`` uses); then reoriented to RAS and resized to the preset's cube as
``decathlon:PATH`` does. ``uebench protect`` refuses BraTS trees: the brain mask of the z-score
joins all four modalities, which its per-channel budget fit does not model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from uebench.contracts.folders import (
    CaseFiles,
    FolderError,
    FolderLayout,
    NiftiFolder,
    strip_nifti,
)
from uebench.contracts.registry import register_dataset
from uebench.datasets.brats_mni import BratsMNI
from uebench.datasets.brats_mni import normalise as brats_normalise

MODALITIES = ("flair", "t1", "t1ce", "t2")  # the reference order (spec)
BRATS_VALUES = (0, 1, 2, 4)
SUFFIXES = (*MODALITIES, "seg")


def _nifti_names(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and strip_nifti(p.name))


def _find(folder: Path, suffix: str, layout: FolderLayout) -> Path | None:
    """``folder/<folder>_<suffix>.nii(.gz)``, else the one file ending ``_<suffix>``."""
    for ending in (".nii.gz", ".nii"):
        exact = folder / f"{folder.name}_{suffix}{ending}"
        if exact.is_file():
            return exact
    matches = [p for p in _nifti_names(folder)
               if strip_nifti(p.name).lower().endswith(f"_{suffix}")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        layout.problem(folder, f"{len(matches)} files end in _{suffix}: "
                               f"{', '.join(p.name for p in matches)}")
    else:
        layout.problem(folder / f"{folder.name}_{suffix}.nii.gz",
                       "missing" + (" (the segmentation)" if suffix == "seg" else
                                    f" (modality {suffix})"))
    return None


def discover(root: Path) -> FolderLayout:
    """List a BraTS training tree: case folders in ``root`` or in its grade sub-folders."""
    root = Path(root).resolve()
    layout = FolderLayout("brats", root, MODALITIES, BRATS_VALUES, declared_in="BraTS")
    folders = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if _nifti_names(child):
            folders.append(child)
        else:  # a grade folder (HGG/, LGG/) holding case folders
            folders += [p for p in child.iterdir() if p.is_dir() and _nifti_names(p)]
    folders.sort(key=lambda p: (p.name, str(p)))  # by case id, whatever the grade folder
    seen: dict[str, Path] = {}
    for folder in folders:
        if folder.name in seen:
            layout.problem(folder, f"case {folder.name} also in "
                                   f"{seen[folder.name].relative_to(root)}")
            continue
        seen[folder.name] = folder
        files = {suffix: _find(folder, suffix, layout) for suffix in SUFFIXES}
        images = [files[m] for m in MODALITIES if files[m]]
        layout.cases.append(CaseFiles(folder.name, images, files["seg"], all(files.values())))
    if not folders:
        layout.problems.append(f"{root}: no BraTS case folders (CASE/CASE_flair, _t1, _t1ce, "
                               "_t2, _seg .nii.gz, directly or under HGG/ and LGG/)")
    return layout


@register_dataset("brats")
class BratsFolder(NiftiFolder):
    """A BraTS 2019-2021 training tree (brats:PATH), flair/t1/t1ce/t2, regions ET/TC/WT."""

    version = "1"
    layout = "brats"
    class_names = BratsMNI.class_names
    modalities = MODALITIES
    regions = BratsMNI.regions

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Case folders of ``*_flair`` / ``*_seg`` files in ``root`` or one level down."""
        folders = [p for p in Path(root).iterdir() if p.is_dir()]
        folders += [q for p in folders for q in p.iterdir() if q.is_dir()]
        return any((strip_nifti(f.name) or "").lower().endswith(("_flair", "_seg"))
                   for folder in folders for f in folder.iterdir())

    @classmethod
    def discover(cls, root: Path) -> FolderLayout:
        return discover(root)

    def normalise(self, image: torch.Tensor, entry: CaseFiles) -> np.ndarray:
        array = image.numpy()
        brain = (array != 0).any(0)
        if not brain.any():
            raise FolderError(f"{entry.images[0]}: all four modalities are zero (no brain)")
        return brats_normalise(array, brain)
