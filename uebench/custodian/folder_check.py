"""``uebench dataset check PATH``: the integrity check of a dataset folder, as nnU-Net's.

Lists the folder with its layout's own ``discover`` (any registered folder layout, see
:mod:`uebench.custodian.layouts`: ``decathlon`` for MSD and nnU-Net v2, ``brats``, ``flare``;
detected unless given), the listing the dataset itself reads, and reads every file of every
case with nibabel, one case at a time, collecting EVERY problem, one line each, naming the file
(relative to the folder):

- the listing's problems (decathlon: dataset.json valid and declaring its labels and channels,
  ``numTraining`` equal to the cases found, listed paths inside the folder; every layout:
  every case's image, channel and label files present, no image without a label, no
  unexpected channel file);
- every file readable, header and data (a truncated or corrupt file);
- the channel count of each case equal to the declared one (4D MSD images count their 4th
  axis), every image file 3D (or 4D in MSD);
- image and label shapes equal, and their affines (the voxel-to-world matrices, to 1e-3 mm);
- no NaN or Inf in an image or a label;
- label values integers within the declared set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from uebench.contracts.folders import (
    CaseFiles,
    FolderError,
    FolderLayout,
    affines_agree,
    reader_problem,
    relative,
)
from uebench.custodian.layouts import layout_class


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


def discover(root: Path, layout: str = "auto") -> FolderLayout:
    """List the folder ``root`` in its layout (detected with ``auto``) through the dataset
    registry; a :class:`FolderError` when it is not a folder or its layout cannot be told."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder")
    return layout_class(root, layout).discover(root)


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
        say(case.images[0], f"{channels} channel(s); {layout.declared_in} declares "
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
