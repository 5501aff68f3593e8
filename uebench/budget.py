"""The threat model enforced by the harness: clamp, budget check, int8 storage, re-check.

Deltas are stored as int8 with scale ``eps / 127`` (the reference code's export format), so the
released volume is ``clamp(x + q * eps / 127, 0, 1)`` and the budget is verified on that form.
"""

from __future__ import annotations

import numpy as np

QUANT_LEVELS = 127
# float32 storage: x + delta - x can exceed eps by one float32 ulp of x (<= 6e-8 at 1.0).
TOLERANCE = 1e-6


class BudgetViolation(ValueError):
    """A perturbation that breaks the method's declared budget."""


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


def quantise(image: np.ndarray, delta: np.ndarray, epsilon: float, what: str) -> np.ndarray:
    """Clamp ``image + delta`` to [0, 1], check the budget, and return the int8 stored delta."""
    if delta.shape != image.shape:
        raise BudgetViolation(f"{what}: delta shape {delta.shape} != image shape {image.shape}")
    check_linf(delta, epsilon, what)
    effective = np.clip(image + delta.astype(np.float32), 0.0, 1.0) - image
    levels = np.rint(effective / storage_scale(epsilon))
    return np.clip(levels, -QUANT_LEVELS, QUANT_LEVELS).astype(np.int8)


def release(image: np.ndarray, stored: np.ndarray, epsilon: float, what: str) -> np.ndarray:
    """The released (protected) volume from its stored delta, budget re-checked on it."""
    step = np.float32(storage_scale(epsilon))
    protected = np.clip(image + stored.astype(np.float32) * step, 0, 1)
    check_linf(protected - image, epsilon, what + " (stored form)")
    return protected.astype(np.float32)
