"""OPS: one-pixel shortcut (Wu et al., ICLR 2023), training-free, bounded in L0.

Classification OPS perturbs one pixel per image: for each class ``k`` it searches the position
``p`` and the boundary colour ``sigma`` in ``{0, 1}^C`` from which the class's images deviate
most and most stably, ``max mean(Delta) / var(Delta)`` with ``Delta = |x(p) - sigma|`` over the
class's images, and sets that pixel of every image of class ``k`` to ``sigma``. The value is not
bounded (no L-inf budget); the budget is L0.

Dense 3D adaptation, also written in every record: in segmentation the sample is the voxel, so
the volume is tiled into cubic cells of edge ``cell``; for each label class ``k`` (background
included) one offset ``p_k`` inside the cell and one colour ``sigma_k`` are searched by the
same criterion over the training voxels of class ``k`` at that offset (``Delta`` = mean over
channels of ``|x_c - sigma_c|``, variance floored at 1e-8); in every complete cell, the voxel at
``p_k`` is set to ``sigma_k`` when its label is ``k``. At most one voxel per class per cell
changes, so the L0 budget is ``n_classes / cell^3`` of the voxels; the run's ``eps`` is unused.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from uebench.contracts.budget import Budget, L0Budget
from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.contracts.registry import register_method

VARIANCE_FLOOR = 1e-8


def cell_offsets(shape: tuple[int, ...], cell: int) -> np.ndarray:
    """Per voxel of ``shape`` (D, H, W), its offset index inside its cubic cell, or -1 for the
    voxels of incomplete cells at the far borders (never perturbed, so L0 stays in budget)."""
    grids = np.indices(shape)
    offsets = np.zeros(shape, np.int64)
    inside = np.ones(shape, bool)
    for axis, size in enumerate(shape):
        offsets = offsets * cell + grids[axis] % cell
        inside &= grids[axis] < size - size % cell
    return np.where(inside, offsets, -1)


def boundary_colours(channels: int) -> np.ndarray:
    """Every colour with each channel at 0 or 1: ``[2^C, C]``."""
    return np.array(list(itertools.product((0.0, 1.0), repeat=channels)), np.float32)


def search_shortcut(cases: list[Case], n_classes: int, cell: int) -> dict[int, tuple[int, ...]]:
    """OPS search: per class, the (offset, colour) maximising ``mean(Delta) / var(Delta)``.

    Returns ``{class: (offset, colour index)}`` for the classes present in ``cases``.
    """
    colours = boundary_colours(cases[0].image.shape[0])
    n_offsets = cell**3
    count = np.zeros((n_classes, n_offsets))
    total = np.zeros((len(colours), n_classes, n_offsets))
    squares = np.zeros_like(total)
    for case in cases:
        offsets = cell_offsets(case.label.shape, cell)
        keep = offsets >= 0
        index = case.label[keep].astype(np.int64) * n_offsets + offsets[keep]
        values = case.image[:, keep]
        count += np.bincount(index, minlength=n_classes * n_offsets).reshape(count.shape)
        for c, colour in enumerate(colours):
            deviation = np.abs(values - colour[:, None]).mean(axis=0)
            total[c] += np.bincount(index, deviation, n_classes * n_offsets).reshape(count.shape)
            squares[c] += np.bincount(index, deviation**2,
                                      n_classes * n_offsets).reshape(count.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        variance = np.maximum(squares / count - mean**2, VARIANCE_FLOOR)
        score = np.where(count > 0, mean / variance, -np.inf)
    shortcut = {}
    for k in range(n_classes):
        if count[k].any():
            colour, offset = np.unravel_index(np.argmax(score[:, k]), score[:, k].shape)
            shortcut[k] = (int(offset), int(colour))
    return shortcut


@register_method("ops")
class OnePixelShortcut(Method):
    """OPS: one voxel per class per cell set to the class's most stable boundary colour."""

    norm = "l0"
    summary = "OPS (Wu et al. 2023): one-voxel-per-class shortcut, L0 budget"
    deviations = ("dense adaptation: one voxel per label class (background included) per cubic "
                  "cell of `cell` voxels, searched by mean/var of the deviation over the class's "
                  "training voxels at each offset; L0 budget n_classes/cell^3; eps unused")
    # a cell holds one voxel per class, so its cell^3 voxels at least n_classes: edge >= 2
    param_ranges = {"cell": (2, None)}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        return {"cell": 8}

    def budget(self, ctx: RunContext) -> Budget:
        return L0Budget(ctx.n_classes / self.params["cell"] ** 3)

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        self.colours = boundary_colours(ctx.in_channels)
        self.shortcut = search_shortcut(train_cases, ctx.n_classes, self.params["cell"])

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        offsets = cell_offsets(case.label.shape, self.params["cell"])
        delta = np.zeros_like(case.image)
        for k, (offset, colour) in self.shortcut.items():
            where = (case.label == k) & (offsets == offset)
            delta[:, where] = self.colours[colour][:, None] - case.image[:, where]
        return delta

    def describe(self) -> dict[str, Any]:
        found = getattr(self, "shortcut", {})
        return {**super().describe(),
                "shortcut": {str(k): {"offset": o, "colour": self.colours[c].tolist()}
                             for k, (o, c) in found.items()}}
