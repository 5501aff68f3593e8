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


@pytest.mark.parametrize("epsilon", [0, -EPS, 1.5, 300 / 255, float("nan"), float("inf"), True,
                                     "4/255"])
def test_a_budget_outside_0_1_is_refused_by_the_spec_and_the_budget(epsilon):
    from uebench.contracts.budget import LinfBudget, check_epsilon
    from uebench.runner.pipeline import RunSpec, resolve

    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):
        check_epsilon(epsilon)
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):
        LinfBudget(epsilon)
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):  # sweep, API
        resolve(RunSpec(method="random", victim="unet", dataset="spheres", epsilon=epsilon,
                        preset="tiny"))
    assert check_epsilon(1) == 1.0 and LinfBudget(EPS).epsilon == EPS


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_an_l0_budget_outside_0_1_is_refused(fraction):
    from uebench.contracts.budget import L0Budget

    with pytest.raises(ValueError, match=r"fraction of the voxels, in \(0, 1\]"):
        L0Budget(fraction)


def test_a_budget_with_slack_admits_it_and_stores_within_epsilon():
    from uebench.contracts.budget import LinfBudget

    image = np.full((1, 2, 2, 2), 0.5, np.float32)
    eps = 32 / 255
    delta = np.full_like(image, eps * 1.0005)
    with pytest.raises(BudgetViolation, match="exceeds the budget"):
        LinfBudget(eps).store(image, delta, "plain")
    budget = LinfBudget(eps, slack=eps * 1e-3)
    released = budget.release(image, budget.store(image, delta, "slack"), "slack")
    assert np.abs(released - image).max() <= eps + 1e-6  # clipped to eps when stored
    assert budget.describe()["slack"] == pytest.approx(eps * 1e-3)
    assert "slack" not in LinfBudget(eps).describe()
    with pytest.raises(BudgetViolation):
        budget.store(image, np.full_like(image, eps * 1.002), "beyond")
