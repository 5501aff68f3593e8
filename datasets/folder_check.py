"""``uebench dataset check PATH``: the integrity check of a dataset folder, as nnU-Net's.

Lists the folder in its layout (``decathlon``: MSD with a ``training`` list, or nnU-Net v2
per-channel files; ``brats``; ``flare``; detected unless given) and reads every file of every
case with nibabel, one case at a time, collecting EVERY problem, one line each, naming the file
(relative to the folder):

- the listing: dataset.json present, valid and declaring its labels (with background 0) and
  channels; ``numTraining`` equal to the cases found; listed paths inside the folder; every
  case's image, channel and label files present (a missing modality, a missing label, an image
  without a label, an unexpected channel file);
- every file readable, header and data (a truncated or corrupt file);
- the channel count of each case equal to the declared one (4D MSD images count their 4th
  axis), every image file 3D (or 4D in MSD);
- image and label shapes equal, and their affines (the voxel-to-world matrices, to 1e-3 mm);
- no NaN or Inf in an image or a label;
- label values integers within the declared set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from uebench.datasets.brats import discover as discover_brats
from uebench.datasets.decathlon import _label_values
from uebench.datasets.flare import IMAGE_FOLDERS, LABEL_FOLDERS
from uebench.datasets.flare import discover as discover_flare
from uebench.datasets.nifti import (
    CaseFiles,
    FolderError,
    FolderLayout,
    affines_agree,
    reader_problem,
    relative,
    strip_nifti,
)

LAYOUTS = ("decathlon", "brats", "flare")


@dataclass
class CheckReport:
    """What :func:`check_folder` found: the layout, the cases and files read, the problems."""

    root: Path
    layout: str
    cases: int
    files: int
    channels: tuple[str, ...]
    label_values: tuple[int, ...]
    problems: list[str]

    def summary(self) -> str:
        channels = (f"{len(self.channels)} channel(s) ({', '.join(self.channels)})"
                    if self.channels else "no channels declared")
        head = (f"{self.root}: {self.layout} layout, {self.cases} cases, {self.files} files, "
                f"{channels}, labels {value_set(self.label_values)}")
        if self.problems:
            return f"{head}: {len(self.problems)} problem(s)"
        return f"{head}: ok"


def value_set(values: tuple[int, ...] | list[int]) -> str:
    """``(0, 1, 2, 4)`` -> ``{0-2, 4}``: runs of consecutive values collapsed."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return "{" + ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}"
                           for r in runs) + "}"


def detect_layout(root: Path) -> str:
    """``decathlon`` when ``dataset.json`` is there, ``flare`` for images + labels folders,
    ``brats`` for case folders of ``*_flair`` / ``*_seg`` files; FolderError otherwise."""
    if (root / "dataset.json").is_file():
        return "decathlon"
    if any((root / n).is_dir() for n in IMAGE_FOLDERS) and \
            any((root / n).is_dir() for n in LABEL_FOLDERS):
        return "flare"
    folders = [p for p in root.iterdir() if p.is_dir()]
    folders += [q for p in folders for q in p.iterdir() if q.is_dir()]
    for folder in folders:
        if any((strip_nifti(f.name) or "").lower().endswith(("_flair", "_seg"))
               for f in folder.iterdir()):
            return "brats"
    raise FolderError(
        f"{root}: cannot tell its layout (no dataset.json, no images/ + labels/ folders, no "
        f"BraTS case folders); name one with --layout ({', '.join(LAYOUTS)})"
    )


def discover_decathlon(root: Path) -> FolderLayout:
    """List an MSD or nnU-Net v2 folder without stopping at the first problem."""
    layout = FolderLayout("decathlon", root, (), (), declared_in="dataset.json")
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        layout.problem(meta_path, "missing (a decathlon / nnU-Net folder needs dataset.json)")
        return layout
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as error:
        layout.problem(meta_path, f"not valid JSON ({error})")
        return layout
    try:
        values, _ = _label_values(meta, meta_path)
        layout.label_values = tuple(values)
    except ValueError as error:
        layout.problems.append(f"dataset.json: {str(error).split(': ', 1)[-1]}")
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
    if not isinstance(text, str) or not text:
        layout.problems.append(f"dataset.json: {where} is not a file path")
        return None
    path = (layout.root / text).resolve()
    if not path.is_relative_to(layout.root):
        layout.problems.append(f"dataset.json: {where} {text} escapes the dataset folder")
        return None
    if not path.is_file():
        layout.problem(path, f"missing (listed in dataset.json, {where})")
        return None
    return path


def _list_msd(layout: FolderLayout, meta: dict) -> None:
    training = meta["training"]
    if not isinstance(training, list):
        layout.problems.append("dataset.json: 'training' is not a list")
        return
    for i, item in enumerate(training):
        where = f"training[{i}]"
        if not isinstance(item, dict) or "image" not in item or "label" not in item:
            layout.problems.append(f"dataset.json: {where} needs 'image' and 'label'")
            continue
        names = item["image"] if isinstance(item["image"], list) else [item["image"]]
        listed = [_listed(layout, n, f"{where} image") for n in names]
        images = [p for p in listed if p]
        label = _listed(layout, item["label"], f"{where} label")
        case = (strip_nifti(Path(str(names[0])).name) if names else None) or f"training[{i}]"
        layout.cases.append(CaseFiles(case, images, label,
                                      bool(names) and len(images) == len(listed) and bool(label)))


def _list_nnunet(layout: FolderLayout, meta: dict) -> None:
    root, ending = layout.root, meta.get("file_ending", ".nii.gz")
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            layout.problem(folder, "missing folder")
    if layout.problems and not (images_dir.is_dir() and labels_dir.is_dir()):
        return
    labels = {p.name[: -len(ending)]: p for p in sorted(labels_dir.glob(f"*{ending}"))}
    n = len(layout.modalities)
    for case, label in labels.items():
        images = [images_dir / f"{case}_{c:04d}{ending}" for c in range(n)]
        missing = [p for p in images if not p.is_file()]
        for path in missing:
            layout.problem(path, f"missing (channel {path.name[-len(ending) - 4:-len(ending)]} "
                                 f"of {case})")
        layout.cases.append(CaseFiles(case, [p for p in images if p.is_file()], label,
                                      not missing))
    for path in sorted(images_dir.glob(f"*{ending}")):
        case, _, channel = path.name[: -len(ending)].rpartition("_")
        if case not in labels:
            layout.problem(path, f"no label (labelsTr/{case}{ending})")
        elif not channel.isdigit() or int(channel) >= n:
            layout.problem(path, f"channel {channel} is not declared in dataset.json "
                                 f"({n} channel(s))")
    if not labels:
        layout.problem(labels_dir, f"no label files ending in {ending}")


def discover(root: Path, layout: str = "auto") -> FolderLayout:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder")
    kind = detect_layout(root) if layout == "auto" else layout
    if kind == "decathlon":
        return discover_decathlon(root)
    if kind == "brats":
        return discover_brats(root)
    if kind == "flare":
        return discover_flare(root)
    raise FolderError(f"unknown layout {layout!r}; one of auto, {', '.join(LAYOUTS)}")


def _read(path: Path) -> tuple[np.ndarray, np.ndarray] | str:
    """(data, affine) of a NIfTI file, or why it cannot be read."""
    try:
        image = nib.load(str(path))
        return np.asanyarray(image.dataobj), np.asarray(image.affine, np.float64)
    except Exception as error:  # noqa: BLE001 - every reader failure is a problem line
        return f"cannot read: {reader_problem(error, path)}"


def _nonfinite(data: np.ndarray) -> int:
    if not np.issubdtype(data.dtype, np.floating):
        return 0
    return int(data.size - np.count_nonzero(np.isfinite(data)))


def check_case(case: CaseFiles, layout: FolderLayout) -> list[str]:
    """Every problem of one case's files, one line each, naming the file."""
    problems: list[str] = []

    def say(path: Path, message: str) -> None:
        problems.append(f"{relative(path, layout.root)}: {message}")

    reference: tuple[Path, tuple[int, ...], np.ndarray] | None = None
    channels, readable = 0, True
    for path in case.images:
        read = _read(path)
        if isinstance(read, str):
            say(path, read)
            readable = False
            continue
        data, affine = read
        if data.ndim not in (3, 4) or (data.ndim == 4 and len(case.images) > 1):
            say(path, f"{data.ndim}D image of shape {data.shape}; expected "
                      + ("3D" if len(case.images) > 1 else "3D or 4D (x, y, z, channel)"))
            readable = False
            continue
        channels += 1 if data.ndim == 3 else data.shape[3]
        bad = _nonfinite(data)
        if bad:
            say(path, f"{bad} NaN/Inf voxel(s) in the image")
        if reference is None:
            reference = (path, data.shape[:3], affine)
        else:
            _compare(say, path, data.shape[:3], affine, reference, "image")
    if case.complete and readable and channels != len(layout.modalities):
        source = "dataset.json" if layout.kind.startswith("decathlon") else layout.kind
        say(case.images[0], f"{channels} channel(s); {source} declares "
                            f"{len(layout.modalities)} ({', '.join(layout.modalities)})")
    if case.label is None:
        return problems
    read = _read(case.label)
    if isinstance(read, str):
        say(case.label, read)
        return problems
    data, affine = read
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        say(case.label, f"{data.ndim}D label of shape {data.shape}; expected 3D")
        return problems
    if reference is not None:
        _compare(say, case.label, data.shape, affine, reference, "label")
    bad = _nonfinite(data)
    if bad:
        say(case.label, f"{bad} NaN/Inf voxel(s) in the label")
        data = np.where(np.isfinite(data), data, 0)
    values = np.unique(data)
    fractional = values[values != np.round(values)]
    if fractional.size:
        say(case.label, f"non-integer label values {fractional[:5].tolist()}")
    found = {int(v) for v in np.round(values)}
    undeclared = sorted(found - set(layout.label_values))
    if undeclared and layout.label_values:
        say(case.label, f"label values {undeclared} are not declared in {layout.declared_in} "
                        f"(declared: {value_set(layout.label_values)})")
    return problems


def _compare(say, path: Path, shape: tuple[int, ...], affine: np.ndarray,
             reference: tuple[Path, tuple[int, ...], np.ndarray], what: str) -> None:
    first, first_shape, first_affine = reference
    if tuple(shape) != tuple(first_shape):
        say(path, f"{what} shape {tuple(shape)} differs from {first.name} {tuple(first_shape)}")
    elif not affines_agree(affine, first_affine):
        worst = float(np.abs(affine - first_affine).max())
        say(path, f"{what} affine differs from {first.name}'s (by up to {worst:.4g})")


def check_folder(path: Path | str, layout: str = "auto") -> CheckReport:
    """List and read every file of the folder; every problem found (FolderError only when the
    folder is not a folder or its layout cannot be told)."""
    listing = discover(Path(path), layout)
    problems = list(listing.problems)
    files = 0
    for case in listing.cases:
        problems += check_case(case, listing)
        files += len(case.images) + (case.label is not None)
    problems.sort(key=lambda line: line.split(": ", 1)[0])  # by file (stable within a file)
    return CheckReport(listing.root, listing.kind, len(listing.cases), files,
                       listing.modalities, listing.label_values, problems)
