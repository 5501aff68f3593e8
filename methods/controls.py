"""The controls every table needs: ``clean`` (no perturbation), ``random`` (uniform noise in
[-eps, eps] on every voxel) and ``random-roi`` (the same noise on foreground voxels only: the
support of VoxShield's delta, separating "any noise on the organ" from "optimised noise"; the
control every protection is tested against, cell by cell)."""

from __future__ import annotations

import zlib

import numpy as np

from uebench.contracts.core import Case, Method, RunContext
from uebench.contracts.registry import register_method


def case_rng(seed: int, case: Case) -> np.random.Generator:
    """A generator keyed by run seed and case id, so a case's noise is the same in any order."""
    return np.random.default_rng([seed, zlib.crc32(case.id.encode())])


@register_method("clean")
class Clean(Method):
    """No perturbation: the clean-trained reference row."""

    summary = "control: no perturbation"
    role = "reference"
    supports_native = True  # per-case noise at any grid

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        return np.zeros_like(case.image)


@register_method("random")
class RandomNoise(Method):
    """i.i.d. uniform noise in [-eps, eps] on every voxel."""

    summary = "control: uniform noise, whole volume"
    role = "control"
    supports_native = True  # per-case noise at any grid

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        rng = case_rng(ctx.seed, case)
        return rng.uniform(-self.epsilon, self.epsilon, case.image.shape).astype(np.float32)


@register_method("random-roi")
class RandomNoiseROI(Method):
    """i.i.d. uniform noise in [-eps, eps] on foreground voxels (label > 0) only."""

    summary = "control: uniform noise, foreground only"
    role = "matched-control"
    supports_native = True  # per-case noise at any grid

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        rng = case_rng(ctx.seed, case)
        noise = rng.uniform(-self.epsilon, self.epsilon, case.image.shape).astype(np.float32)
        return noise * case.foreground[None]
