import numpy as np
import pytest

from uebench.contracts.budget import BudgetViolation, quantise, release, storage_scale

EPS = 4 / 255


def test_stored_form_holds_the_budget_and_clamps():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (2, 8, 8, 8)).astype(np.float32)
    image[0, 0] = 0.0  # clamping at the lower bound
    delta = rng.uniform(-EPS, EPS, image.shape).astype(np.float32)
    stored = quantise(image, delta, EPS, "case")
    assert stored.dtype == np.int8 and np.abs(stored).max() <= 127
    released = release(image, stored, EPS, "case")
    assert released.min() >= 0 and released.max() <= 1
    assert np.abs(released - image).max() <= EPS * (1 + 1e-6)
    assert np.abs(released - np.clip(image + delta, 0, 1)).max() <= storage_scale(EPS) / 2 + 1e-6


def test_over_budget_nan_and_shape_are_rejected():
    image = np.full((1, 4, 4, 4), 0.5, np.float32)
    with pytest.raises(BudgetViolation, match="exceeds the budget"):
        quantise(image, np.full_like(image, 2 * EPS), EPS, "case-7")
    with pytest.raises(BudgetViolation, match="NaN"):
        quantise(image, np.full_like(image, np.nan), EPS, "case-7")
    with pytest.raises(BudgetViolation, match="shape"):
        quantise(image, np.zeros((1, 4, 4, 5), np.float32), EPS, "case-7")


def test_l0_budget_counts_changed_voxels_and_keeps_exact_values():
    from uebench.contracts.budget import L0Budget

    image = np.full((2, 4, 4, 4), 0.5, np.float32)
    delta = np.zeros_like(image)
    delta[:, 0, 0, 0] = [0.5, -0.5]  # one voxel, both channels: to 1 and to 0
    budget = L0Budget(1 / 64)
    stored = budget.store(image, delta, "case")
    released = budget.release(image, stored, "case")
    assert released[:, 0, 0, 0].tolist() == [1.0, 0.0]
    assert np.array_equal(released[:, 1:], image[:, 1:])
    assert budget.check(released - image, "case") == 1 / 64
    delta[0, 1, 0, 0] = 0.1  # a second voxel: 2/64 > 1/64
    with pytest.raises(BudgetViolation, match="L0 changes 3.1250% of the voxels"):
        budget.store(image, delta, "case-3")
