"""Slice-wise 2D UE: the "2D" comparison of the VoxShield paper.

Every axial slice is its own 2D sample (C = modalities); the 2D method runs with a 2D MONAI
UNet surrogate, and the slices are stacked back into volumes. Same eps. By construction there
is no coherence along z: the ablation against VoxShield's z-term. Evaluate it against the 3D
victims and against ``unet2d`` (the slice-wise victim), where it is expected to work.

- ``slicewise``: 2D EM (sample-wise, per slice), the default;
- ``slicewise-tap``: 2D TAP, the option.
Batches hold ``batch_size`` slices; the rest of each inner method's schedule is its own.
"""

from __future__ import annotations

from typing import Any

import torch

from uebench.contracts.core import Case, Preset
from uebench.contracts.registry import register_method
from uebench.kit.surrogates import case_tensors
from uebench.methods.em import ErrorMinimising
from uebench.methods.tap import TargetedAdversarialPoisoning


def to_slices(volumes: torch.Tensor) -> torch.Tensor:
    """``[N, C, D, H, W]`` -> ``[N * D, C, H, W]`` (case-major, slice order kept)."""
    n, c, d, h, w = volumes.shape
    return volumes.permute(0, 2, 1, 3, 4).reshape(n * d, c, h, w)


class SliceWise:
    """Mixin: the inner method sees axial slices; deltas are restacked per case."""

    spatial_dims = 2
    supports_native = False  # axial slices of stacked cubes

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        params = super().default_params(preset)
        return {**params, "batch_size": 32,
                "surrogate_channels": "32-64-128-256" if preset.name == "paper" else "16-32-64"}

    def _tensors(self, cases: list[Case], device: torch.device) -> tuple[torch.Tensor, ...]:
        images, labels = case_tensors(cases, device)
        self.depth = images.shape[2]
        return to_slices(images), to_slices(labels)

    def _case_delta(self, index: int) -> torch.Tensor:
        slices = self.deltas[index * self.depth : (index + 1) * self.depth]
        return slices.permute(1, 0, 2, 3)


@register_method("slicewise")
class SliceWiseEM(SliceWise, ErrorMinimising):
    """2D EM on every axial slice with a 2D UNet surrogate, restacked (no z coherence)."""

    summary = "2D slice-wise EM (the paper's 2D comparison)"
    deviations = ("each axial slice a 2D sample; 2D EM with a 2D MONAI UNet surrogate, batches "
                  "of 32 slices; " + ErrorMinimising.deviations)


@register_method("slicewise-tap")
class SliceWiseTAP(SliceWise, TargetedAdversarialPoisoning):
    """2D TAP on every axial slice with a 2D UNet surrogate, restacked."""

    summary = "2D slice-wise TAP (option of the paper's 2D comparison)"
    deviations = ("each axial slice a 2D sample; 2D TAP with a 2D MONAI UNet surrogate, "
                  "batches of 32 slices; " + TargetedAdversarialPoisoning.deviations)
