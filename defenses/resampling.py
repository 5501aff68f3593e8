"""Resampling data defenses: reorder or coarsen the voxel grid."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from uebench.contracts.core import Defense
from uebench.contracts.registry import register_defense


@register_defense("slice-shuffle")
class SliceShuffle(Defense):
    summary = "random permutation of the axial slice order (image and label together)"

    def apply(self, image, label, rng):
        order = rng.permutation(image.shape[1])
        return image[:, order].copy(), label[order].copy()


@register_defense("lowres")
class LowResolution(Defense):
    summary = "trilinear down-sampling by 0.5 and back"

    param_ranges = {"factor": (0.0, 1.0)}  # 0 refused below: no grid

    def __init__(self, factor: float = 0.5) -> None:
        if factor <= 0:
            raise ValueError(f"lowres: factor must be > 0; got {factor}")
        self.factor = factor

    def apply(self, image, label, rng):
        x = torch.from_numpy(image)[None]
        small = F.interpolate(x, scale_factor=self.factor, mode="trilinear",
                              align_corners=False)
        back = F.interpolate(small, size=image.shape[1:], mode="trilinear", align_corners=False)
        return back[0].numpy().astype(np.float32), label
