"""Random geometry shared by the synthetic cohorts: smooth fields and deformed sampling grids."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

Shape = tuple[int, int, int]


def _shape(size: int | Shape) -> Shape:
    return (size,) * 3 if isinstance(size, int) else tuple(size)


def smooth_field(size: int | Shape, rng: np.random.Generator, coarse: int = 5) -> np.ndarray:
    """A smooth random field of edge ``size`` (or shape ``size``) in about [-1, 1]: coarse
    noise upsampled (trilinear)."""
    noise = torch.from_numpy(rng.standard_normal((1, 1, coarse, coarse, coarse)).astype(np.float32))
    field = F.interpolate(noise, size=_shape(size), mode="trilinear", align_corners=True)
    return field[0, 0].numpy() / 1.5


def _rotation(angles: np.ndarray) -> np.ndarray:
    a, b, c = angles
    rz = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rx = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def deformed_grid(
    size: int | Shape,
    rng: np.random.Generator,
    max_rotation_deg: float = 10.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.04,
    elastic: float = 0.04,
    extent: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Coordinates ``[*shape, 3]`` in [-1, 1] (order z, y, x) after a random affine and a smooth
    elastic displacement: where each output voxel samples the template. A grid whose axes
    span different lengths (``extent``, mm per axis, for a non-cubic template) is rotated in
    millimetres, so the affine stays rigid."""
    shape = _shape(size)
    zz, yy, xx = np.meshgrid(*(np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape),
                             indexing="ij")
    points = np.stack([zz, yy, xx], axis=-1)
    angles = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, 3))
    scales = rng.uniform(*scale_range, 3)
    matrix = _rotation(angles) @ np.diag(1.0 / scales)
    if extent is not None:  # to mm (relative to the longest axis), transform, and back
        half = np.asarray(extent, dtype=np.float64) / max(extent)
        matrix = np.diag(1.0 / half) @ matrix @ np.diag(half)
    shift = rng.uniform(-max_shift, max_shift, 3)
    warped = points @ matrix.T.astype(np.float32) + shift.astype(np.float32)
    displacement = np.stack([smooth_field(shape, rng) for _ in range(3)], axis=-1)
    return (warped + elastic * displacement).astype(np.float32)


def sample(volumes: np.ndarray, grid: np.ndarray, mode: str = "bilinear") -> np.ndarray:
    """Sample ``volumes [K, Z, Y, X]`` at ``grid`` coordinates (z, y, x order, in [-1, 1])."""
    source = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))[None]
    coords = torch.from_numpy(grid[..., ::-1].copy())[None]  # grid_sample wants (x, y, z)
    out = F.grid_sample(source, coords, mode=mode, padding_mode="zeros", align_corners=True)
    return out[0].numpy()


def soften(mask: np.ndarray, sigma: float = 0.7) -> np.ndarray:
    """A partial-volume version of a binary mask (Gaussian blur), for intensity synthesis."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(mask.astype(np.float32), sigma)
