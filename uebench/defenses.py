"""Countermeasures applied to the protected training set before the victim trains.

Each is a data transform of one training volume (and its label, for slice reordering), seeded
by the run. ``none`` leaves the data as released.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter, gaussian_filter1d, median_filter

from uebench.core import Defense
from uebench.registry import register_defense


@register_defense("none")
class NoDefense(Defense):
    summary = "train on the data as released"

    def apply(self, image, label, rng):
        return image, label


@register_defense("gaussian")
class GaussianSmoothing(Defense):
    summary = "3D Gaussian smoothing, sigma 1 voxel (separable)"

    def apply(self, image, label, rng):
        return gaussian_filter(image, sigma=(0, 1, 1, 1)).astype(np.float32), label


@register_defense("median")
class MedianFilter(Defense):
    summary = "3D median filter 3^3"

    def apply(self, image, label, rng):
        return median_filter(image, size=(1, 3, 3, 3)).astype(np.float32), label


@register_defense("zlowpass")
class ZLowPass(Defense):
    summary = "1D Gaussian along z only, sigma 1 slice (targets inter-slice structure)"

    def apply(self, image, label, rng):
        return gaussian_filter1d(image, sigma=1.0, axis=1).astype(np.float32), label


@register_defense("slice-shuffle")
class SliceShuffle(Defense):
    summary = "random permutation of the axial slice order (image and label together)"

    def apply(self, image, label, rng):
        order = rng.permutation(image.shape[1])
        return image[:, order].copy(), label[order].copy()


@register_defense("lowres")
class LowResolution(Defense):
    summary = "trilinear down-sampling by 0.5 and back"

    def apply(self, image, label, rng):
        x = torch.from_numpy(image)[None]
        small = F.interpolate(x, scale_factor=0.5, mode="trilinear", align_corners=False)
        back = F.interpolate(small, size=image.shape[1:], mode="trilinear", align_corners=False)
        return back[0].numpy().astype(np.float32), label


@register_defense("quantize")
class BitDepthReduction(Defense):
    summary = "bit-depth reduction to 4 bits (the analogue of ISS grayscale/BDR)"

    bits = 4

    def apply(self, image, label, rng):
        levels = 2**self.bits - 1
        return (np.round(image * levels) / levels).astype(np.float32), label
