"""Byte-faithful NIfTI write-back for ``uebench protect``: a single-file image read as stored
(header and extension bytes, dtype, scaling, affine) and written again with new data and
nothing else changed, and the inverse of the reader's geometry (a cube delta back onto a
file's own grid).

The custodian's, not a dataset's: no dataset writes files. It mirrors the reader in
:mod:`uebench.contracts.folders` (``to_cube``'s axes, reorientation and resize; nibabel's
float32 scaling) and must change with it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Resize

from uebench.contracts.folders import RAS_LABELS, strip_nifti
from uebench.custodian.errors import ProtectError


@dataclass
class NiftiFile:
    """One single-file NIfTI image as stored: the bytes before and after its data block
    (header and extensions, unchanged on write), the stored array (file dtype, file axes),
    its scaling and affine."""

    path: Path
    sha256: str
    gz: bool
    prefix: bytes
    suffix: bytes
    stored: np.ndarray
    slope: float
    inter: float
    affine: np.ndarray

    @classmethod
    def read(cls, path: Path) -> NiftiFile:
        path = Path(path)
        if strip_nifti(path.name) is None:
            raise ProtectError(f"{path}: not a single-file NIfTI (.nii or .nii.gz)")
        compressed = path.read_bytes()
        content = gzip.decompress(compressed) if path.name.endswith(".gz") else compressed
        image = nib.load(str(path))
        if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
            raise ProtectError(f"{path}: not a NIfTI-1/2 image")
        proxy = image.dataobj  # where nibabel reads the data from, and how it scales it
        dtype, shape, offset = np.dtype(proxy.dtype), proxy.shape, int(proxy.offset)
        if getattr(proxy, "order", "F") != "F":
            raise ProtectError(f"{path}: data not in Fortran (NIfTI) order")
        end = offset + int(np.prod(shape)) * dtype.itemsize
        stored = np.frombuffer(content, dtype, count=int(np.prod(shape)), offset=offset)
        return cls(path, hashlib.sha256(compressed).hexdigest(), path.name.endswith(".gz"),
                   content[:offset], content[end:], stored.reshape(shape, order="F"),
                   float(proxy.slope), float(proxy.inter), np.asarray(image.affine, np.float64))

    @property
    def integer(self) -> bool:
        return np.issubdtype(self.stored.dtype, np.integer)

    def channels(self) -> int:
        if self.stored.ndim == 3:
            return 1
        if self.stored.ndim == 4:
            return self.stored.shape[3]
        raise ProtectError(f"{self.path}: {self.stored.ndim}D image; protect reads 3D and 4D")

    def channel(self, array: np.ndarray, c: int) -> np.ndarray:
        return array if array.ndim == 3 else array[..., c]

    def raw(self, stored: np.ndarray) -> np.ndarray:
        """Raw (scaled) values, float32 as the reader loads them."""
        return (stored.astype(np.float64) * self.slope + self.inter).astype(np.float32)

    def write(self, path: Path, stored: np.ndarray) -> None:
        """This file with ``stored`` as its data: header bytes, dtype and scaling unchanged;
        gzip without a timestamp, so the same data gives the same bytes."""
        data = np.asarray(stored, dtype=self.stored.dtype).tobytes(order="F")
        content = self.prefix + data + self.suffix
        path.write_bytes(gzip.compress(content, compresslevel=1, mtime=0) if self.gz
                         else content)


def _orientations(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(file -> RAS, RAS -> file) nibabel orientation transforms for a 3D affine."""
    file_ornt = nib.orientations.io_orientation(affine)
    ras = nib.orientations.axcodes2ornt(("R", "A", "S"), labels=RAS_LABELS)
    return (nib.orientations.ornt_transform(file_ornt, ras),
            nib.orientations.ornt_transform(ras, file_ornt))


def to_file_grid(delta_cube: np.ndarray, affine: np.ndarray,
                 file_shape: tuple[int, ...]) -> np.ndarray:
    """One channel of a delta ``[D, H, W]`` (D = z) on the file's grid ``(X, Y, Z)`` in the
    file's voxel order: back to RAS axes, resized trilinearly to the file's RAS shape (the
    reader resized the image the same way; a delta made on the file's own grid, a native
    preset's, is not resampled at all), reorientation undone."""
    to_ras, to_file = _orientations(affine)
    ras_shape = nib.orientations.apply_orientation(np.empty(file_shape, np.int8), to_ras).shape
    ras = np.ascontiguousarray(delta_cube.transpose(2, 1, 0))[None]
    if ras.shape[1:] == tuple(ras_shape):  # made on the file's own grid: nothing to resample
        resized = ras[0]
    else:
        resized = np.asarray(Resize(ras_shape, mode="trilinear")(torch.as_tensor(ras)))[0]
    return np.ascontiguousarray(nib.orientations.apply_orientation(resized, to_file),
                                dtype=np.float32)
