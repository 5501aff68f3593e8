"""``random-signs-roi``: the energy-matched version of ``random-roi``.

``random-roi`` draws uniform noise in [-eps, eps] on the foreground; its mean square is
eps^2 / 3. A delta at the bound (every voxel at +-eps, as VoxShield's saturated delta is) has
mean square eps^2, three times as much. A protection that beats ``random-roi`` may do so by its
energy alone; this control has that energy and no pattern: i.i.d. signs at +-eps on every
foreground voxel (label > 0), zero elsewhere. The signs are those of ``random-roi``'s own draws
at the same seed (the same generator, ``case_rng``, keyed by run seed and case id, so a case's
noise is the same in any order), pushed to the bound: paired with ``random-roi`` cell by cell,
the two rows differ in magnitude only.
"""

from __future__ import annotations

import numpy as np

from uebench.contracts.core import Case, Method, RunContext
from uebench.contracts.registry import register_method
from uebench.methods.controls import case_rng


@register_method("random-signs-roi")
class RandomSignsROI(Method):
    """i.i.d. random signs at +-eps on foreground voxels (label > 0) only: ``random-roi``'s
    support and signs at the energy of a saturated delta (3x ``random-roi``'s)."""

    summary = "control: random signs at +-eps, foreground only (3x random-roi's energy)"
    role = "control"
    supports_native = True  # per-case noise at any grid

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        draws = case_rng(ctx.seed, case).uniform(-self.epsilon, self.epsilon, case.image.shape)
        signs = np.where(draws >= 0, np.float32(self.epsilon), np.float32(-self.epsilon))
        return signs.astype(np.float32) * case.foreground[None]
