"""``random-signs-classwise``: a label-aligned shortcut with no optimisation, as a control.

One random sign per (label class, image channel), drawn from the run seed: on the voxels of
foreground class k in channel c the delta is ``s[k, c] * eps``, on the background zero. Like
``random-signs-roi`` it saturates the budget on the foreground (mean square eps^2, the energy
of a delta at the bound such as VoxShield's, 3x ``random-roi``'s), but its pattern is a
shortcut: each class is shifted by a constant, so the label can be read off the intensity.
Between the controls and a protection this separates "energy" (``random-signs-roi``), "any
label-aligned pattern" (this) and "the method's own pattern".

The signs depend on the run seed only, NOT on the case: a shortcut is learnable only if it is
the same in every case (class k brightened in one case and darkened in the next carries no
information about k). Each sign is drawn from its own generator keyed by (seed, class,
channel), so a class's sign does not depend on which other classes or channels exist, nor on
the order in which cases are perturbed. With few classes and channels, the signs of all
classes can coincide (probability 2^(1 - K*C) for K foreground classes and C channels); the
shortcut then marks foreground against background only.
"""

from __future__ import annotations

import zlib

import numpy as np

from uebench.contracts.core import Case, Method, RunContext
from uebench.contracts.registry import register_method

STREAM = zlib.crc32(b"random-signs-classwise")
"""Keys this control's generators apart from the per-case ones (``case_rng``) at one seed."""


def class_sign(seed: int, label: int, channel: int) -> float:
    """The sign (+1.0 or -1.0) of foreground class ``label`` in ``channel`` under ``seed``."""
    return 1.0 if np.random.default_rng([seed, STREAM, label, channel]).integers(2) else -1.0


def sign_table(seed: int, n_labels: int, channels: int) -> np.ndarray:
    """``[channels, n_labels]`` of the signs of labels 0..n_labels-1 (background: 0)."""
    table = np.zeros((channels, n_labels), np.float32)
    for k in range(1, n_labels):
        for c in range(channels):
            table[c, k] = class_sign(seed, k, c)
    return table


@register_method("random-signs-classwise")
class RandomSignsClasswise(Method):
    """One random sign at +-eps per (foreground class, channel), the same in every case of a
    run seed: a label-aligned shortcut with no optimisation, at a saturated delta's energy."""

    summary = "control: one random +-eps sign per label class and channel, foreground only"
    role = "control"
    supports_native = True  # a per-voxel lookup of the label at any grid

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        label = case.label.astype(np.int64)
        table = sign_table(ctx.seed, int(label.max()) + 1, case.image.shape[0])
        return np.float32(self.epsilon) * table[:, label]
