"""``decathlon:PATH``: any folder in Medical Segmentation Decathlon or nnU-Net v2 layout.

``dataset.json`` plus ``imagesTr``/``labelsTr``. MSD folders list their cases under
``training`` (4D or 3D images); nnU-Net v2 folders have per-channel files ``CASE_0000.nii.gz``
... and no list, so cases are taken from ``labelsTr``. The listing collects every problem
(MONAI's ``load_decathlon_datalist`` stops at the first and checks no file): dataset.json
valid and declaring its labels (with background 0) and channels, ``numTraining`` equal to the
cases found, listed paths inside the folder and present, no image without a label or with an
undeclared channel. Every file is checked when read (readable, finite, image/label shapes and
affines equal, labels declared in dataset.json) and any failure names the file. Images are
reoriented to RAS, normalised (CT: window 50/400 HU; other modalities: z-score over non-zero
voxels, clip +-5, map to [0, 1]), resized to the preset's cube (or, under a native preset, kept
on their own grid or resampled to its target spacing) and stored as ``[C, D, H, W]``
with D the axial (superior-inferior) axis. Label values are mapped to 0..K in increasing order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from uebench.contracts.folders import (
    CaseFiles,
    FolderError,
    FolderLayout,
    IntensityMap,
    NiftiFolder,
    strip_nifti,
)
from uebench.contracts.registry import register_dataset

CT_WINDOW = (50.0, 400.0)  # HU: centre, width
META = "dataset.json"


def _label_values(meta: dict[str, Any]) -> tuple[list[int], list[str]]:
    """Declared label values (sorted) and the names of the foreground ones."""
    labels = meta.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise FolderError("'labels' must be a non-empty mapping")
    try:
        if all(str(k).isdigit() for k in labels):  # MSD: {"0": "background", ...}
            pairs = sorted((int(k), str(v)) for k, v in labels.items())
        else:  # nnU-Net v2: {"background": 0, ...}
            pairs = sorted((int(v), str(k)) for k, v in labels.items())
    except (TypeError, ValueError):
        raise FolderError("label values must be integers") from None
    values = [v for v, _ in pairs]
    if 0 not in values:
        raise FolderError("labels must declare the background value 0")
    return values, [name for v, name in pairs if v != 0]


def discover(root: Path) -> FolderLayout:
    """List an MSD or nnU-Net v2 folder without stopping at the first problem."""
    root = Path(root).resolve()
    layout = FolderLayout("decathlon", root, (), (), declared_in=META)
    meta_path = root / META
    if not meta_path.is_file():
        layout.problem(meta_path, f"missing (a decathlon / nnU-Net folder needs {META})")
        return layout
    layout.metadata = [meta_path]
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        layout.problem(meta_path, f"not valid JSON ({error})")
        return layout
    layout.title = str(meta.get("name") or "")
    try:
        values, names = _label_values(meta)
        layout.label_values, layout.class_names = tuple(values), tuple(names)
    except FolderError as error:
        layout.problem(meta_path, str(error))
    channels = meta.get("modality") or meta.get("channel_names") or {"0": "image"}
    try:
        layout.modalities = tuple(str(channels[k]) for k in sorted(channels, key=int))
    except (TypeError, ValueError):
        layout.problem(meta_path, "channels ('modality' / 'channel_names') must be keyed 0, 1..")
        layout.modalities = ("image",)
    if "training" in meta:
        layout.kind = "decathlon (MSD)"
        _list_msd(layout, meta)
    else:
        layout.kind = "decathlon (nnU-Net v2)"
        _list_nnunet(layout, meta)
    expected = meta.get("numTraining")
    if isinstance(expected, int) and expected != len(layout.cases):
        layout.problem(meta_path, f"numTraining is {expected}, the folder has "
                                  f"{len(layout.cases)} cases")
    return layout


def _listed(layout: FolderLayout, text: object, where: str) -> Path | None:
    """A file dataset.json lists (``where``: ``training[3] image``), resolved, when it is a
    file inside the folder; otherwise None and a problem."""
    if not isinstance(text, str) or not text:
        layout.problems.append(f"{META}: {where} is not a file path")
        return None
    path = (layout.root / text).resolve()
    if not path.is_relative_to(layout.root):
        layout.problems.append(f"{META}: {where} {text} escapes the dataset folder")
        return None
    if not path.is_file():
        layout.problem(path, f"missing (listed in {META}, {where})")
        return None
    return path


def _found(layout: FolderLayout, path: Path, what: str) -> Path | None:
    """A file the nnU-Net layout expects (``what``: ``channel 0000 of CASE``), resolved, when
    it is there and inside the folder; otherwise None and a problem."""
    resolved = path.resolve()
    if not resolved.is_file():
        layout.problem(path, f"missing ({what})")
        return None
    if not resolved.is_relative_to(layout.root):
        layout.problem(path, "links out of the dataset folder")
        return None
    return resolved


def _list_msd(layout: FolderLayout, meta: dict[str, Any]) -> None:
    training = meta["training"]
    if not isinstance(training, list):
        layout.problems.append(f"{META}: 'training' is not a list")
        return
    for i, item in enumerate(training):
        where = f"training[{i}]"
        if not isinstance(item, dict) or "image" not in item or "label" not in item:
            layout.problems.append(f"{META}: {where} needs 'image' and 'label'")
            continue
        names = item["image"] if isinstance(item["image"], list) else [item["image"]]
        listed = [_listed(layout, n, f"{where} image") for n in names]
        images = [p for p in listed if p]
        label = _listed(layout, item["label"], f"{where} label")
        case = (strip_nifti(images[0].name) or images[0].stem) if images else where
        layout.cases.append(CaseFiles(case, images, label,
                                      bool(names) and len(images) == len(listed) and bool(label)))


def _list_nnunet(layout: FolderLayout, meta: dict[str, Any]) -> None:
    root, ending = layout.root, meta.get("file_ending", ".nii.gz")
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            layout.problem(folder, "missing folder")
    if not (images_dir.is_dir() and labels_dir.is_dir()):
        return
    labels = {p.name[: -len(ending)]: p for p in sorted(labels_dir.glob(f"*{ending}"))}
    n = len(layout.modalities)
    for case, label_path in labels.items():
        label = _found(layout, label_path, f"the label of {case}")
        images = [_found(layout, images_dir / f"{case}_{c:04d}{ending}",
                         f"channel {c:04d} of {case}") for c in range(n)]
        found = [p for p in images if p]
        layout.cases.append(CaseFiles(case, found, label, len(found) == n and bool(label)))
    for path in sorted(images_dir.glob(f"*{ending}")):
        case, _, channel = path.name[: -len(ending)].rpartition("_")
        if case not in labels:
            layout.problem(path, f"no label (labelsTr/{case}{ending})")
        elif not channel.isdigit() or int(channel) >= n:
            layout.problem(path, f"channel {channel} is not declared in {META} "
                                 f"({n} channel(s))")
    if not labels:
        layout.problem(labels_dir, f"no label files ending in {ending}")


@register_dataset("decathlon")
class DecathlonFolder(NiftiFolder):
    """A local MSD / nnU-Net folder, at the preset's cube or (native presets) its own grid."""

    version = "1"
    layout = "decathlon"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / META).is_file()

    @classmethod
    def discover(cls, root: Path) -> FolderLayout:
        return discover(root)

    def intensity_map(self, channel: torch.Tensor, modality: str) -> IntensityMap:
        """CT: the window 50/400 HU (``(x + 150) / 400``, clipped to [0, 1]); other
        modalities: z-score over the non-zero voxels with this channel's own mean and
        standard deviation (as MONAI's ``NormalizeIntensity(nonzero=True)``), clipped to
        +-5 and mapped to [0, 1], zero voxels kept at 0 (any voxel order)."""
        if modality.upper() == "CT":
            return IntensityMap.window(*CT_WINDOW)
        return IntensityMap.zscore(channel, clip=5.0)

    def intensity_maps(self, image: torch.Tensor) -> list[IntensityMap]:
        """One :meth:`intensity_map` per channel of a raw ``[C, ...]`` case image."""
        return [self.intensity_map(image[c], modality)
                for c, modality in enumerate(self.modalities)]

    def normalise(self, image: torch.Tensor, entry: CaseFiles) -> torch.Tensor:
        maps = self.intensity_maps(image)
        return torch.cat([torch.as_tensor(m.apply(image[c : c + 1]))
                          for c, m in enumerate(maps)])
