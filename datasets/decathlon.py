"""``decathlon:PATH``: any folder in Medical Segmentation Decathlon or nnU-Net v2 layout.

``dataset.json`` plus ``imagesTr``/``labelsTr``. MSD folders list their cases under
``training`` (read with MONAI's ``load_decathlon_datalist``; 4D or 3D images); nnU-Net v2
folders have per-channel files ``CASE_0000.nii.gz`` ... and no list, so cases are taken from
``labelsTr``. Every file is checked (readable, inside the folder, finite, image/label shapes
equal, labels declared in dataset.json) and any failure names the file. Images are reoriented
to RAS, normalised (CT: window 50/400 HU; other modalities: z-score over non-zero voxels,
clip +-5, map to [0, 1]), resized to the preset's cube and stored as ``[C, D, H, W]`` with D
the axial (superior-inferior) axis. Label values are mapped to 0..K in increasing order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import load_decathlon_datalist

from uebench.contracts.core import Case, Dataset, Preset
from uebench.contracts.registry import register_dataset
from uebench.datasets.nifti import (
    FolderError,
    IntensityMap,
    check_pair,
    folder_identity,
    read_channels,
    strip_nifti,
    to_cube,
)
from uebench.datasets.synthesis import progress

# A problem with a decathlon folder; the message names the offending file. The same class as
# every NIfTI folder dataset raises (uebench.datasets.nifti.FolderError), a ValueError.
DecathlonError = FolderError
CT_WINDOW = (-150.0, 250.0)  # HU: level 50, width 400


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DecathlonError(f"{path}: missing (a decathlon folder needs dataset.json)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DecathlonError(f"{path}: not valid JSON ({error})") from None


def _label_values(meta: dict[str, Any], path: Path) -> tuple[list[int], list[str]]:
    """Declared label values (sorted) and the names of the foreground ones."""
    labels = meta.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise DecathlonError(f"{path}: 'labels' must be a non-empty mapping")
    try:
        if all(str(k).isdigit() for k in labels):  # MSD: {"0": "background", ...}
            pairs = sorted((int(k), str(v)) for k, v in labels.items())
        else:  # nnU-Net v2: {"background": 0, ...}
            pairs = sorted((int(v), str(k)) for k, v in labels.items())
    except (TypeError, ValueError):
        raise DecathlonError(f"{path}: label values must be integers") from None
    values = [v for v, _ in pairs]
    if 0 not in values:
        raise DecathlonError(f"{path}: labels must declare the background value 0")
    return values, [name for v, name in pairs if v != 0]


@register_dataset("decathlon")
class DecathlonFolder(Dataset):
    """A local MSD / nnU-Net folder, resampled to the preset's cube."""

    version = "1"

    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise DecathlonError(f"{self.root}: not a folder")
        self.meta_path = self.root / "dataset.json"
        self.meta = _read_json(self.meta_path)
        self.label_values, names = _label_values(self.meta, self.meta_path)
        self.class_names = tuple(names)
        channels = self.meta.get("modality") or self.meta.get("channel_names") or {"0": "image"}
        self.modalities = tuple(str(channels[k]) for k in sorted(channels, key=int))
        self.entries = self._entries()

    def _inside(self, path: Path) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise DecathlonError(f"{path}: escapes the dataset folder {self.root}")
        if not resolved.is_file():
            raise DecathlonError(f"{resolved}: missing")
        return resolved

    def _entries(self) -> list[dict[str, Any]]:
        if "training" in self.meta:
            listed = load_decathlon_datalist(self.meta_path, True, "training", base_dir=self.root)
            entries = []
            for item in listed:
                images = item["image"] if isinstance(item["image"], list) else [item["image"]]
                images = [self._inside(Path(p)) for p in images]
                entries.append({"id": _case_id(images[0]), "image": images,
                                "label": self._inside(Path(item["label"]))})
            return entries
        ending = self.meta.get("file_ending", ".nii.gz")
        entries = []
        for label in sorted((self.root / "labelsTr").glob(f"*{ending}")):
            case = label.name[: -len(ending)]
            images = [self._inside(self.root / "imagesTr" / f"{case}_{c:04d}{ending}")
                      for c in range(len(self.modalities))]
            entries.append({"id": case, "image": images, "label": self._inside(label)})
        if not entries:
            raise DecathlonError(f"{self.root / 'labelsTr'}: no label files ending in {ending}")
        return entries

    def label(self) -> str:
        return f"decathlon:{self.meta.get('name') or self.root.name}"

    def identity(self) -> dict[str, Any]:
        return folder_identity(self, [p for e in self.entries for p in (*e["image"], e["label"])])

    def build(self, preset: Preset, seed: int) -> list[Case]:
        return [self.load_case(entry, preset.volume_size)
                for entry in progress(self.entries, f"decathlon: reading {self.root.name}")]

    def load_case(self, entry: dict[str, Any], size: int) -> Case:
        """Read, check, normalise and resize one case."""
        image = read_channels(entry["image"], self.root)
        label = read_channels([entry["label"]], self.root)
        check_pair(image, label, entry["image"][0], entry["label"], self.label_values,
                   "dataset.json")
        lookup = np.zeros(max(self.label_values) + 1, np.uint8)
        lookup[self.label_values] = np.arange(len(self.label_values))
        image, label, spacing = to_cube(image, label, size, self._normalise, lookup)
        return Case(entry["id"], image, label, spacing)

    def intensity_map(self, channel: torch.Tensor, modality: str) -> IntensityMap:
        """The affine intensity map the reader applies to one raw channel of one case (any
        voxel order): CT: the window 50/400 HU (``(x + 150) / 400``, clipped to [0, 1]);
        other modalities: z-score over the non-zero voxels with this channel's own mean and
        standard deviation (as MONAI's ``NormalizeIntensity(nonzero=True)``), clipped to
        +-5 and mapped to [0, 1], zero voxels kept at 0."""
        if modality.upper() == "CT":
            return IntensityMap(CT_WINDOW[0], CT_WINDOW[1] - CT_WINDOW[0], 0.0, 1.0, False)
        return IntensityMap.zscore(channel, clip=5.0)

    def intensity_maps(self, image: torch.Tensor) -> list[IntensityMap]:
        """One :meth:`intensity_map` per channel of a raw ``[C, ...]`` case image."""
        return [self.intensity_map(image[c], modality)
                for c, modality in enumerate(self.modalities)]

    def _normalise(self, image: torch.Tensor) -> torch.Tensor:
        maps = self.intensity_maps(image)
        return torch.cat([torch.as_tensor(m.apply(image[c : c + 1]))
                          for c, m in enumerate(maps)])


def _case_id(path: Path) -> str:
    return strip_nifti(path.name) or path.stem
