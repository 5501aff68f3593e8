"""Smoothing data defenses: low-pass filters that wash out voxel-level noise."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d, median_filter

from uebench.contracts.core import Defense
from uebench.contracts.registry import register_defense


def positive_sigma(name: str, sigma: float) -> float:
    """``sigma``, refused when it is not above 0 (no smoothing at all)."""
    if sigma <= 0:
        raise ValueError(f"{name}: sigma must be > 0; got {sigma}")
    return sigma


@register_defense("gaussian")
class GaussianSmoothing(Defense):
    summary = "3D Gaussian smoothing, sigma 1 voxel (separable)"

    param_ranges = {"sigma": (0.0, None)}  # 0 refused below: no smoothing

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = positive_sigma(self.name, sigma)

    def apply(self, image, label, rng):
        sigma = (0, self.sigma, self.sigma, self.sigma)
        return gaussian_filter(image, sigma=sigma).astype(np.float32), label


@register_defense("median")
class MedianFilter(Defense):
    summary = "3D median filter 3^3"

    param_ranges = {"size": (1, None)}

    def __init__(self, size: int = 3) -> None:
        self.size = size

    def apply(self, image, label, rng):
        size = (1, self.size, self.size, self.size)
        return median_filter(image, size=size).astype(np.float32), label


@register_defense("zlowpass")
class ZLowPass(Defense):
    summary = "1D Gaussian along z only, sigma 1 slice (targets inter-slice structure)"

    param_ranges = {"sigma": (0.0, None)}  # 0 refused below: no smoothing

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = positive_sigma(self.name, sigma)

    def apply(self, image, label, rng):
        return gaussian_filter1d(image, sigma=self.sigma, axis=1).astype(np.float32), label
