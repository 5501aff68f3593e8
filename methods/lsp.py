"""LSP: linearly separable perturbations (Yu et al., KDD 2022), training-free.

Classification LSP gives every class one random colour-patch pattern (patches of a constant
random colour per channel), scaled to the budget, added to every image of that class. Dense 3D
adaptation, also written in every record: one random patch texture per LABEL class (background
included), cubic patches of ``patch`` voxels with one uniform random value in [-1, 1] per patch
and channel, scaled to L-inf eps (the paper scales to an L2 budget), applied at that class's
voxels: ``delta(v) = P_{y(v)}(v)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.contracts.registry import register_method
from uebench.kit.poisoning import class_pattern_delta


def patch_texture(rng: np.random.Generator, shape: tuple[int, ...], patch: int) -> np.ndarray:
    """``[C, D, H, W]`` of constant random values in [-1, 1] on cubes of edge ``patch``."""
    coarse = [-(-n // patch) for n in shape[1:]]
    values = rng.uniform(-1, 1, (shape[0], *coarse)).astype(np.float32)
    for axis in (1, 2, 3):
        values = np.repeat(values, patch, axis=axis)
    return values[:, : shape[1], : shape[2], : shape[3]]


@register_method("lsp")
class LinearlySeparablePerturbation(Method):
    """LSP: one random patch texture per label class, at that class's voxels (training-free)."""

    summary = "LSP (Yu et al. 2022): class-wise random patch textures"
    deviations = ("dense adaptation: one patch texture per label class (background included) "
                  "applied at its voxels; L-inf scaling to eps instead of the paper's L2")
    param_ranges = {"patch": (1, None)}  # the patch edge in voxels

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        return {"patch": 8}

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        rng = np.random.default_rng(ctx.seed)
        shape = train_cases[0].image.shape
        self.patterns = torch.from_numpy(np.stack(
            [patch_texture(rng, shape, self.params["patch"]) for _ in range(ctx.n_classes)]))

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        label = torch.from_numpy(case.label.astype(np.int64))[None, None]
        return (self.epsilon * class_pattern_delta(self.patterns, label))[0].numpy()
