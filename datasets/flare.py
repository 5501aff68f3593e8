"""``flare:PATH``: a FLARE21 / FLARE22 training folder, read from its official layout.

PATH holds an images folder (``images/``, ``imagesTr/`` or FLARE21's ``TrainingImg/``) with
``CASE_0000.nii.gz`` CT volumes and a labels folder (``labels/``, ``labelsTr/`` or
``TrainingMask/``) with ``CASE.nii.gz`` masks (``.nii`` also read). Cases are taken from the
labels folder; an image without a label, a label without an image and a second channel
(``CASE_0001``) are problems.

Classes are FLARE21's: liver 1, kidney 2, spleen 3, pancreas 4. A FLARE22 mask (13 organs) is
read with the same four classes: its left kidney (13) joins the kidney (2, FLARE22's right
kidney) and its other organs (5-12: aorta, IVC, adrenal glands, gallbladder, oesophagus,
stomach, duodenum) become background; a value above 13 is refused. Preprocessing as the
reference (../shared/spec/voxshield.md) and ``abdomen-phantom``: CT window centre 50, width
400 HU mapped to [0, 1]; then reoriented to RAS and resized to the preset's cube as
``decathlon:PATH`` does. ``uebench protect`` writes a protected copy in the same layout (the
window is one affine map per channel, :meth:`FlareFolder.intensity_map`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from uebench.contracts.folders import (
    CaseFiles,
    FolderLayout,
    IntensityMap,
    NiftiFolder,
    relative,
    strip_nifti,
)
from uebench.contracts.registry import register_dataset
from uebench.datasets.abdomen_phantom import WINDOW_CENTRE, WINDOW_WIDTH, AbdomenPhantom, window

IMAGE_FOLDERS = ("images", "imagesTr", "TrainingImg")
LABEL_FOLDERS = ("labels", "labelsTr", "TrainingMask")
FLARE_VALUES = tuple(range(14))  # FLARE21: 0-4; FLARE22: 0-13
LOOKUP = np.zeros(len(FLARE_VALUES), np.uint8)
LOOKUP[:5] = np.arange(5)  # background, liver, kidney, spleen, pancreas
LOOKUP[13] = 2  # FLARE22 left kidney -> kidney


def _folder(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _niftis(folder: Path) -> dict[str, Path]:
    """Stem -> path of the NIfTI files in ``folder``."""
    return {strip_nifti(p.name): p for p in sorted(folder.iterdir())
            if p.is_file() and strip_nifti(p.name)}


def discover(root: Path) -> FolderLayout:
    """List a FLARE folder: one case per label file, its image ``CASE_0000``."""
    root = Path(root).resolve()
    layout = FolderLayout("flare", root, AbdomenPhantom.modalities, FLARE_VALUES,
                          declared_in="FLARE21/22")
    images, labels = _folder(root, IMAGE_FOLDERS), _folder(root, LABEL_FOLDERS)
    if images is None:
        layout.problems.append(f"{root}: no images folder ({', '.join(IMAGE_FOLDERS)})")
    if labels is None:
        layout.problems.append(f"{root}: no labels folder ({', '.join(LABEL_FOLDERS)})")
    if images is None or labels is None:
        return layout
    image_files, label_files = _niftis(images), _niftis(labels)
    for stem, path in image_files.items():
        case, _, channel = stem.rpartition("_")
        if not case or not (channel.isdigit() and len(channel) == 4):
            layout.problem(path, "not named CASE_0000.nii.gz")
        elif channel != "0000":
            layout.problem(path, f"channel {channel}: FLARE images are one CT channel (_0000)")
        elif case not in label_files:
            layout.problem(path, f"no label ({labels.name}/{case}.nii.gz)")
    for case, label in label_files.items():
        image = image_files.get(f"{case}_0000")
        if image is None:
            layout.problem(images / f"{case}_0000.nii.gz",
                           f"missing (the image of {relative(label, root)})")
        layout.cases.append(CaseFiles(case, [image] if image else [], label, image is not None))
    if not label_files:
        layout.problem(labels, "no label files (CASE.nii.gz)")
    return layout


@register_dataset("flare")
class FlareFolder(NiftiFolder):
    """A FLARE21/22 training folder (flare:PATH): CT, liver/kidney/spleen/pancreas."""

    version = "1"
    layout = "flare"
    class_names = AbdomenPhantom.class_names
    modalities = AbdomenPhantom.modalities

    @classmethod
    def detect(cls, root: Path) -> bool:
        """An images and a labels folder, and no dataset.json (with one, the folder is in
        nnU-Net's layout: ``decathlon``)."""
        root = Path(root)
        return (_folder(root, IMAGE_FOLDERS) is not None
                and _folder(root, LABEL_FOLDERS) is not None
                and not (root / "dataset.json").is_file())

    @classmethod
    def discover(cls, root: Path) -> FolderLayout:
        return discover(root)

    def label_lookup(self) -> np.ndarray:
        return LOOKUP

    def normalise(self, image: torch.Tensor, entry: CaseFiles) -> np.ndarray:
        return window(image.numpy())

    def intensity_map(self, channel: torch.Tensor, modality: str) -> IntensityMap:
        """The CT window :meth:`normalise` applies, centre 50 / width 400 HU."""
        return IntensityMap.window(WINDOW_CENTRE, WINDOW_WIDTH)
