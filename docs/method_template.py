"""TEMPLATE: a protection method for uebench, from empty file to leaderboard row.

Copy to ``methods/<your_method>.py``, rename, add the module name to ``BUILTIN_MODULES`` in
``methods/__init__.py`` on a line of its own (or, in your own package, name this module under
the ``uebench.methods`` entry-point group: ``my-noise = "my_package.my_noise"``), then:

    python -c "from uebench.contracts.conformance import check_method;
    check_method('template-noise')"
    # -> check_method('template-noise'): passed on 3 spheres cases (...)
    uebench run --method template-noise --victim unet --out runs
    uebench leaderboard --add runs/records

Say in the module docstring what the paper defines and how this file adapts it to dense 3D
segmentation; put the same in ``deviations`` so every record carries it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.contracts.registry import register_method


@register_method("template-noise")
class TemplateNoise(Method):
    """Class-agnostic random-sign noise at ``scale * eps`` (a placeholder for your method)."""

    summary = "template: random-sign noise at scale * eps"
    deviations = "none: a template, not a published method"

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        # Every parameter lives here, is recorded, and can be overridden: --param scale=0.5.
        return {"scale": 1.0}

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        # Train surrogates or generators here; seed them from ctx.seed so runs repeat.
        self.seed = ctx.seed

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        # Return a delta of case.image's shape. The harness clamps x + delta to [0, 1], enforces
        # the L-inf eps budget (override `budget` for another norm, as methods/ops.py does for L0)
        # and stores the delta as int8.
        rng = np.random.default_rng([self.seed, zlib.crc32(case.id.encode())])
        sign = np.sign(rng.standard_normal(case.image.shape)).astype(np.float32)
        return self.params["scale"] * self.epsilon * sign
