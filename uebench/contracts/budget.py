"""The threat model enforced by the harness: clamp, budget check, storage, re-check.

L-inf deltas are stored as int8 with scale ``eps / 127`` (the reference code's export format), so
the released volume is ``clamp(x + q * eps / 127, 0, 1)`` and the budget is verified on that form.
L0 deltas (sparse, unbounded in value, e.g. OPS) are stored as float32 and their budget is the
fraction of voxels changed in any channel, verified on the released volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

QUANT_LEVELS = 127
# float32 storage: x + delta - x can exceed eps by one float32 ulp of x (<= 6e-8 at 1.0).
TOLERANCE = 1e-6
# What ``uebench protect`` admits on a written file, relative to eps: its effective eps is
# measured after float32 re-reading and re-normalisation (uebench.custodian.budget_fit).
RELEASE_TOLERANCE = 1e-3


class BudgetViolation(ValueError):
    """A perturbation that breaks the method's declared budget."""


def check_epsilon(epsilon: Any, shown: str | None = None) -> float:
    """``epsilon`` as an L-inf bound on [0, 1] images: a finite number in (0, 1] (a bound
    above 1 bounds nothing); ``ValueError`` naming it (``shown``: as the user typed it)."""
    if (isinstance(epsilon, bool) or not isinstance(epsilon, float | int)
            or not math.isfinite(epsilon) or not 0 < epsilon <= 1):
        raise ValueError(f"epsilon must be in (0, 1], the images being in [0, 1] (e.g. 4/255); "
                         f"got {shown if shown is not None else repr(epsilon)}")
    return float(epsilon)


def storage_scale(epsilon: float) -> float:
    """The int8 step: one quantisation level of the stored delta."""
    return epsilon / QUANT_LEVELS


def check_linf(delta: np.ndarray, epsilon: float, what: str) -> float:
    """Raise when ``max |delta|`` exceeds ``epsilon``; return the measured L-inf norm."""
    if not np.all(np.isfinite(delta)):
        raise BudgetViolation(f"{what}: the perturbation has NaN or Inf values")
    linf = float(np.abs(delta).max()) if delta.size else 0.0
    if linf > epsilon + TOLERANCE:
        raise BudgetViolation(f"{what}: L-inf {linf:.6g} exceeds the budget {epsilon:.6g}")
    return linf


def _check_shape(image: np.ndarray, delta: np.ndarray, what: str) -> None:
    if delta.shape != image.shape:
        raise BudgetViolation(f"{what}: delta shape {delta.shape} != image shape {image.shape}")


def quantise(image: np.ndarray, delta: np.ndarray, epsilon: float, what: str,
             slack: float = 0.0) -> np.ndarray:
    """Clamp ``image + delta`` to [0, 1], check the budget (``epsilon + slack``), and return
    the int8 stored delta (within ``epsilon``: the levels are clipped to +-127)."""
    _check_shape(image, delta, what)
    check_linf(delta, epsilon + slack, what)
    effective = np.clip(image + delta.astype(np.float32), 0.0, 1.0) - image
    levels = np.rint(effective / storage_scale(epsilon))
    return np.clip(levels, -QUANT_LEVELS, QUANT_LEVELS).astype(np.int8)


def release(image: np.ndarray, stored: np.ndarray, epsilon: float, what: str) -> np.ndarray:
    """The released (protected) volume from its stored delta, budget re-checked on it."""
    step = np.float32(storage_scale(epsilon))
    protected = np.clip(image + stored.astype(np.float32) * step, 0, 1)
    check_linf(protected - image, epsilon, what + " (stored form)")
    return protected.astype(np.float32)


class Budget:
    """A method's threat model: its bound, the stored form of a delta and the check on it."""

    norm: ClassVar[str] = ""

    def check(self, delta: np.ndarray, what: str) -> float:
        """Raise ``BudgetViolation`` when ``delta`` breaks the bound; return its measured size."""
        raise NotImplementedError

    def store(self, image: np.ndarray, delta: np.ndarray, what: str) -> np.ndarray:
        """Clamp ``image + delta`` to [0, 1], check the bound, return the stored delta."""
        raise NotImplementedError

    def release(self, image: np.ndarray, stored: np.ndarray, what: str) -> np.ndarray:
        """The released volume from its stored delta, the bound re-checked on it."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the run record says about the budget."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinfBudget(Budget):
    """``max |delta| <= epsilon``, stored as int8 with scale ``epsilon / 127``."""

    epsilon: float
    # accepted above epsilon before storage (the stored form is clipped to epsilon): a
    # release read back from disk carries the writer's float32 re-normalisation error
    slack: float = 0.0
    norm: ClassVar[str] = "linf"

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon)

    def check(self, delta: np.ndarray, what: str) -> float:
        return check_linf(delta, self.epsilon + self.slack, what)

    def store(self, image: np.ndarray, delta: np.ndarray, what: str) -> np.ndarray:
        return quantise(image, delta, self.epsilon, what, self.slack)

    def release(self, image: np.ndarray, stored: np.ndarray, what: str) -> np.ndarray:
        return release(image, stored, self.epsilon, what)

    def describe(self) -> dict[str, Any]:
        described = {"norm": self.norm, "epsilon": self.epsilon, "storage": "int8",
                     "storage_scale": storage_scale(self.epsilon)}
        return {**described, "slack": self.slack} if self.slack else described


@dataclass(frozen=True)
class L0Budget(Budget):
    """At most ``max_fraction`` of the voxels changed (in any channel), any value in [0, 1];
    stored as float32 (the values are not small, so int8 at a fixed scale would move them)."""

    max_fraction: float
    norm: ClassVar[str] = "l0"

    def __post_init__(self) -> None:
        if not (isinstance(self.max_fraction, float | int) and 0 < self.max_fraction <= 1):
            raise ValueError("an L0 budget is a fraction of the voxels, in (0, 1]; got "
                             f"{self.max_fraction!r}")

    def check(self, delta: np.ndarray, what: str) -> float:
        if not np.all(np.isfinite(delta)):
            raise BudgetViolation(f"{what}: the perturbation has NaN or Inf values")
        fraction = float((delta != 0).any(axis=0).mean()) if delta.size else 0.0
        if fraction > self.max_fraction:
            raise BudgetViolation(f"{what}: L0 changes {fraction:.4%} of the voxels, over the "
                                  f"budget {self.max_fraction:.4%}")
        return fraction

    def store(self, image: np.ndarray, delta: np.ndarray, what: str) -> np.ndarray:
        _check_shape(image, delta, what)
        self.check(delta, what)
        return (np.clip(image + delta.astype(np.float32), 0.0, 1.0) - image).astype(np.float32)

    def release(self, image: np.ndarray, stored: np.ndarray, what: str) -> np.ndarray:
        protected = np.clip(image + stored.astype(np.float32), 0, 1).astype(np.float32)
        self.check(protected - image, what + " (stored form)")
        return protected

    def describe(self) -> dict[str, Any]:
        return {"norm": self.norm, "max_fraction": self.max_fraction, "storage": "float32"}
