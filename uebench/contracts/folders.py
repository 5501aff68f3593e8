"""What the NIfTI folder datasets share (``decathlon:``, ``brats:``, ``flare:``) and what
``uebench dataset check`` and ``uebench protect`` use: one-line read errors naming the file,
the resampling of a case to the preset's cube, the per-channel intensity maps, and
:class:`NiftiFolder`, the one base class every folder layout's dataset derives from.

A folder is listed once, by its layout's ``discover``, into a :class:`FolderLayout` (cases,
their files, declared channels and labels, and every problem found while listing); the dataset
refuses a folder with any listing problem, naming the first, and ``uebench dataset check``
reports all of them. A new layout is one module (a registered :class:`NiftiFolder` subclass)
plus its line in ``BUILTIN_MODULES``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImage, Orientation, Resize, Spacing

from uebench.contracts.core import Case, Dataset, Preset
from uebench.runner.progress import progress

RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))
NIFTI_ENDINGS = (".nii.gz", ".nii")


class FolderError(ValueError):
    """A problem with a dataset folder; the message names the offending file."""


def read_channels(paths: list[Path], root: Path) -> torch.Tensor:
    """Channel-first MetaTensor from one 4D/3D file or per-channel 3D files (nibabel).

    A file that cannot be read gives a one-line :class:`FolderError` naming the file and the
    reason ("cannot read labelsTr/x.nii.gz in ROOT: not a gzip file"), not MONAI's message,
    which nests the traceback of every reader it tried.
    """
    loader = LoadImage(reader="NibabelReader", ensure_channel_first=True, image_only=True)
    try:
        return loader([str(p) for p in paths] if len(paths) > 1 else str(paths[0]))
    except Exception as error:
        problems = [(p, nifti_problem(p)) for p in paths]
        bad = [(p, reason) for p, reason in problems if reason] or [(paths[0], first_line(error))]
        path, reason = bad[0]
        raise FolderError(f"cannot read {relative(path, root)} in {root}: {reason}") from None


def nifti_problem(path: Path) -> str | None:
    """Why nibabel cannot read ``path`` (header and data), in a few words; None if it can."""
    try:
        np.asanyarray(nib.load(str(path)).dataobj)  # a truncated file fails only on the data
    except Exception as error:  # noqa: BLE001 - any reader failure becomes the message
        return reader_problem(error, path)
    return None


def reader_problem(error: BaseException, path: Path) -> str:
    """nibabel's exception for ``path`` in a few words."""
    if isinstance(error, EOFError):
        return "truncated (the compressed data ends early)"
    text = first_line(error)
    for pattern, reason in _NIBABEL_REASONS:
        match = re.match(pattern, text)
        if match:
            return reason.format(*match.groups())
    return text.replace(str(path), path.name)


_NIBABEL_REASONS = (
    (r"File .* is not a gzip file", "not a gzip file"),
    (r"Empty file", "empty file"),
    (r"Cannot work out file type", "not a NIfTI file (nibabel cannot work out its type)"),
    (r"Expected (\d+) bytes, got (\d+) bytes", "truncated (expected {} bytes of data, got {})"),
)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def strip_nifti(name: str) -> str | None:
    """``case.nii.gz`` / ``case.nii`` -> ``case``; None for any other file name."""
    for ending in NIFTI_ENDINGS:
        if name.endswith(ending):
            return name[: -len(ending)]
    return None


def check_pair(image: torch.Tensor, label: torch.Tensor, image_path: Path, label_path: Path,
               declared: list[int] | tuple[int, ...], declared_in: str,
               check_affine: bool = False) -> None:
    """Refuse a case whose label shape (or affine) differs from its image's, whose image has
    NaN/Inf, or whose label holds a value outside ``declared`` (raises :class:`FolderError`)."""
    if image.shape[1:] != label.shape[1:]:
        raise FolderError(
            f"{label_path}: label shape {tuple(label.shape[1:])} differs from image "
            f"shape {tuple(image.shape[1:])} ({image_path.name})"
        )
    if check_affine and not affines_agree(image.affine.numpy(), label.affine.numpy()):
        raise FolderError(f"{label_path}: label affine differs from the image's "
                          f"({image_path.name})")
    if not torch.isfinite(image).all():
        raise FolderError(f"{image_path}: image has NaN or Inf intensities")
    found = np.unique(label.numpy()).astype(np.int64)
    undeclared = sorted(set(found.tolist()) - set(declared))
    if undeclared:
        raise FolderError(f"{label_path}: label values {undeclared} are not declared in "
                          f"{declared_in}")


def affines_agree(a: np.ndarray, b: np.ndarray) -> bool:
    """Same voxel-to-world mapping up to header rounding (1e-3 mm, 1e-4 relative)."""
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                            rtol=1e-4, atol=1e-3))


@dataclass(frozen=True)
class IntensityMap:
    """A reader's per-channel intensity normalisation, an affine map with a clip:
    ``norm = (clip((raw - sub) / div, low, high) - low) / (high - low)``, in [0, 1]; with
    ``nonzero_only`` the voxels whose raw value is 0 stay 0 (a z-score over the non-zero
    voxels). ``apply`` computes it in the same float32 operations as the MONAI transforms it
    stands for (``ScaleIntensityRange``, ``NormalizeIntensity(nonzero=True)``), bit for bit;
    ``scale`` is its slope, normalised units per raw unit (``uebench protect`` maps a delta
    back to raw units with it)."""

    sub: float
    div: float
    low: float
    high: float
    nonzero_only: bool

    @classmethod
    def window(cls, centre: float, width: float) -> IntensityMap:
        """A CT window (``centre``, ``width`` in HU) mapped to [0, 1], as MONAI's
        ``ScaleIntensityRange(centre - width / 2, centre + width / 2, 0, 1, clip=True)``."""
        return cls(centre - width / 2, width, 0.0, 1.0, False)

    @classmethod
    def zscore(cls, channel: torch.Tensor, clip: float = 5.0) -> IntensityMap:
        """z-score over the non-zero voxels of ``channel`` (population std; 1 when 0), as
        MONAI's ``NormalizeIntensity(nonzero=True)``, clipped to +-``clip``."""
        values = torch.as_tensor(channel).float()
        values = values[values != 0]
        if values.numel() == 0:
            return cls(0.0, 1.0, -clip, clip, True)
        mean = torch.mean(values).item()
        std = torch.std(values, unbiased=False).item()
        return cls(mean, std if std != 0.0 else 1.0, -clip, clip, True)

    @property
    def scale(self) -> float:
        """d norm / d raw inside the clip range."""
        return 1.0 / (self.div * (self.high - self.low))

    def apply(self, raw: torch.Tensor) -> torch.Tensor:
        """The normalised values of ``raw`` (float32)."""
        raw = torch.as_tensor(raw).float()
        norm = (((raw - self.sub) / self.div).clamp(self.low, self.high) - self.low) \
            / (self.high - self.low)
        return torch.where(raw != 0, norm, 0.0) if self.nonzero_only else norm


def to_cube(image: torch.Tensor, label: torch.Tensor, size: int,
            normalise: Callable[[torch.Tensor], Any], lookup: np.ndarray,
            ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Reorient a read case to RAS, normalise its image (``normalise`` gets the float
    ``[C, X, Y, Z]`` tensor), resize to ``size``^3 (image trilinear, label nearest) and map the
    label's raw values through ``lookup``. Returns image ``[C, D, H, W]`` float32, label
    ``[D, H, W]`` uint8 (D = z, the axial axis) and the spacing (z, y, x) of the cube in mm."""
    reorient = Orientation("RAS", labels=RAS_LABELS)
    image, label = reorient(image), reorient(label)
    spacing = nib.affines.voxel_sizes(image.affine.numpy())[::-1]
    extent = np.asarray(image.shape[1:][::-1]) * spacing
    image = torch.as_tensor(normalise(image.float()))
    image = Resize((size,) * 3, mode="trilinear")(image).numpy()
    label = Resize((size,) * 3, mode="nearest")(label.float()).numpy()[0]
    return (*_stored_axes(image, label, lookup), tuple(float(e / size) for e in extent))


def _stored_axes(image: np.ndarray, label: np.ndarray, lookup: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """RAS ``[C, X, Y, Z]`` image and ``[X, Y, Z]`` label as a case stores them: image
    ``[C, D, H, W]`` float32, label ``[D, H, W]`` mapped through ``lookup`` (D = z)."""
    return (np.ascontiguousarray(image.transpose(0, 3, 2, 1), dtype=np.float32),
            lookup[np.rint(label).astype(np.int64).transpose(2, 1, 0)])


def to_native(image: torch.Tensor, label: torch.Tensor,
              normalise: Callable[[torch.Tensor], Any], lookup: np.ndarray,
              target_spacing: float | None = None,
              ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """As :func:`to_cube`, but the case keeps its own grid: reoriented to RAS, normalised and,
    when ``target_spacing`` is set, resampled to that isotropic spacing in mm (MONAI
    ``Spacing``: image trilinear, label nearest), as nnU-Net's preprocessing does."""
    reorient = Orientation("RAS", labels=RAS_LABELS)
    image, label = reorient(image), reorient(label)
    values = torch.as_tensor(normalise(image.float())).as_subclass(torch.Tensor)
    image = MetaTensor(values, affine=image.affine)
    if target_spacing is not None:
        pixdim = (float(target_spacing),) * 3
        image = Spacing(pixdim, mode="bilinear")(image)
        label = Spacing(pixdim, mode="nearest")(label.float())
    spacing = nib.affines.voxel_sizes(image.affine.numpy())[::-1]
    return (*_stored_axes(image.numpy(), label.numpy()[0], lookup),
            tuple(round(float(s), 6) for s in spacing))  # no float noise from the affine


@dataclass
class CaseFiles:
    """One case of a folder: its image file(s) (per-channel 3D files, or one 4D file) and its
    label file (None when missing). ``complete`` is False for a case listed with a file
    missing (a listing problem): ``uebench dataset check`` still reads the files it has."""

    id: str
    images: list[Path]
    label: Path | None
    complete: bool = True


@dataclass
class FolderLayout:
    """A folder listed in one layout (``kind``, as ``uebench dataset check`` names it:
    ``decathlon (MSD)``): its cases, the channels, label values and (where the folder names
    them) class names and title it declares, its own metadata files (copied by ``uebench
    protect``; never image data), and every problem found while listing (each line names a
    file)."""

    kind: str
    root: Path
    modalities: tuple[str, ...]
    label_values: tuple[int, ...]
    cases: list[CaseFiles] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    declared_in: str = "the layout"
    class_names: tuple[str, ...] = ()
    title: str = ""
    metadata: list[Path] = field(default_factory=list)

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(f"{relative(path, self.root)}: {message}")


class NiftiFolder(Dataset):
    """Base of every dataset read from a local folder of NIfTI files (``decathlon:PATH``,
    ``brats:PATH``, ``flare:PATH``): one subclass per layout.

    A subclass names its layout (``layout``), tells a folder in it (:meth:`detect`), lists it
    (:meth:`discover`) and normalises a reoriented image (:meth:`normalise`); registering it
    with ``@register_dataset`` is all ``uebench dataset check`` and ``uebench protect`` need
    to find it. Raw label values map to 0..K through :meth:`label_lookup`.
    """

    layout: ClassVar[str] = ""
    supports_native = True  # every layout can be read on its own grid (``load_native``)

    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise FolderError(f"{self.root}: not a folder")
        self.listing = self.discover(self.root)
        if self.listing.problems:
            more = len(self.listing.problems) - 1
            extra = (f" (and {more} more problem{'s' * (more > 1)}: run `uebench dataset check "
                     f"{self.root}`)") if more else ""
            raise FolderError(f"{self.listing.problems[0]} in {self.root}{extra}")
        self.entries = [case for case in self.listing.cases if case.complete]
        self.modalities = self.listing.modalities
        self.class_names = self.listing.class_names or type(self).class_names
        self.lookup = self.label_lookup()

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether the folder ``root`` looks like this layout (for ``--layout auto``)."""
        raise NotImplementedError

    @classmethod
    def discover(cls, root: Path) -> FolderLayout:
        """List the folder ``root`` without stopping at the first problem."""
        raise NotImplementedError

    def normalise(self, image: torch.Tensor, entry: CaseFiles) -> Any:
        """The float ``[C, X, Y, Z]`` RAS image of ``entry`` mapped to [0, 1]."""
        raise NotImplementedError

    def intensity_map(self, channel: torch.Tensor, modality: str) -> IntensityMap:
        """The affine map :meth:`normalise` applies to one raw channel of one case, for layouts
        whose normalisation is one per channel (``uebench protect`` writes a delta back to raw
        units through it, and refuses the layouts that keep this NotImplementedError)."""
        raise NotImplementedError

    def label_lookup(self) -> np.ndarray:
        """Raw label value -> class index: the declared values in increasing order -> 0..K."""
        values = sorted(self.listing.label_values)
        lookup = np.zeros(max(values) + 1, np.uint8)
        lookup[values] = np.arange(len(values))
        return lookup

    def label(self) -> str:
        return f"{self.name}:{self.listing.title or self.root.name}"

    def identity(self) -> dict[str, Any]:
        return folder_identity(self, [p for e in self.entries for p in (*e.images, e.label)])

    def build(self, preset: Preset, seed: int) -> list[Case]:
        """Every complete case, resized to the preset's cube or, under a native preset, on its
        own grid (resampled to ``preset.target_spacing`` when set)."""
        entries = progress(self.entries, f"{self.name}: reading {self.root.name}")
        if preset.native:
            return [self.load_native(entry, preset.target_spacing) for entry in entries]
        return [self.load_case(entry, preset.volume_size) for entry in entries]

    def _read_checked(self, entry: CaseFiles) -> tuple[torch.Tensor, torch.Tensor]:
        """The case's image and label as read, every check passed."""
        assert entry.label is not None  # a listing without problems has every label
        _same_grid(entry.images, self.root)
        image = read_channels(entry.images, self.root)
        label = read_channels([entry.label], self.root)
        if image.shape[0] != len(self.modalities):
            raise FolderError(f"{entry.images[0]}: {image.shape[0]} channels, "
                              f"{self.listing.declared_in} declares {len(self.modalities)}")
        check_pair(image, label, entry.images[0], entry.label, self.listing.label_values,
                   self.listing.declared_in, check_affine=True)
        return image, label

    def load_case(self, entry: CaseFiles, size: int) -> Case:
        """Read, check, normalise and resize one case to ``size``^3."""
        image, label = self._read_checked(entry)
        image, label, spacing = to_cube(image, label, size,
                                        lambda x: self.normalise(x, entry), self.lookup)
        return Case(entry.id, image, label, spacing)

    def load_native(self, entry: CaseFiles, target_spacing: float | None = None) -> Case:
        """Read, check and normalise one case on its own grid (see :func:`to_native`)."""
        image, label = self._read_checked(entry)
        image, label, spacing = to_native(image, label, lambda x: self.normalise(x, entry),
                                          self.lookup, target_spacing)
        return Case(entry.id, image, label, spacing)


def _same_grid(paths: list[Path], root: Path) -> None:
    """Per-channel files of one case on one voxel grid (headers only): else a FolderError
    naming the odd file, before MONAI's concatenation error would name the first."""
    grids = []
    for path in paths:
        try:
            header = nib.load(str(path))
        except Exception:  # noqa: BLE001 - read_channels names the unreadable file
            return
        grids.append((path, header.shape, header.affine))
    first, shape, affine = grids[0]
    for path, other_shape, other_affine in grids[1:]:
        if other_shape != shape:
            raise FolderError(f"{relative(path, root)} in {root}: shape {other_shape} differs "
                              f"from {first.name} {shape}")
        if not affines_agree(other_affine, affine):
            raise FolderError(f"{relative(path, root)} in {root}: affine differs from "
                              f"{first.name}'s")


def folder_identity(dataset: Any, files: list[Path]) -> dict[str, Any]:
    """A local folder's identity for fingerprints: its files' relative paths, sizes and
    modification times, so an edited file gives new cache keys."""
    stamps = [(str(p.relative_to(dataset.root)), p.stat().st_size, p.stat().st_mtime_ns)
              for p in files]
    return {"name": dataset.name, "version": dataset.version, "root": str(dataset.root),
            "files": stamps}
