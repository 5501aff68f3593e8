import numpy as np
import pytest
import torch

from uebench.contracts import registry
from uebench.contracts.budget import quantise, release
from uebench.contracts.core import RunContext
from uebench.kit.spectra import _ZDiv, zdiv
from uebench.methods.voxshield import objective, roi_mask, semantic_disruption
from uebench.runner.data import split_cases
from uebench.runner.pipeline import Pipeline, RunSpec


def slow_zdiv(delta: torch.Tensor) -> torch.Tensor:
    """The spec's definition, slice by slice, with the full complex FFT."""
    b, c, d = delta.shape[:3]
    values = []
    for i in range(b):
        for j in range(c):
            for k in range(d - 1):
                a0 = torch.fft.fft2(delta[i, j, k]).abs()
                a1 = torch.fft.fft2(delta[i, j, k + 1]).abs()
                values.append(torch.sqrt(((a1 - a0) ** 2).sum() + 1e-10))
    return torch.stack(values).mean()


@pytest.mark.parametrize("shape", [(2, 3, 5, 8, 8), (1, 2, 4, 6, 7), (1, 1, 3, 5, 9)])
def test_zdiv_equals_per_slice_full_fft(shape):
    delta = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(zdiv(delta).double(), slow_zdiv(delta.float()).double(),
                               rtol=1e-5, atol=1e-5)


def test_zdiv_is_zero_for_z_constant_delta_and_grows_with_slice_differences():
    slab = torch.randn(1, 1, 1, 8, 8).repeat(1, 2, 6, 1, 1)
    assert zdiv(slab).item() == pytest.approx(1e-5, abs=1e-5)
    small = slab.clone()
    small[:, :, 3] += 0.1 * torch.randn(8, 8)
    large = slab.clone()
    large[:, :, 3] += 1.0 * torch.randn(8, 8)
    assert zdiv(slab) < zdiv(small) < zdiv(large)


def test_gradients_flow_to_delta():
    delta = (0.01 * torch.randn(1, 1, 4, 8, 8)).requires_grad_(True)
    zdiv(delta).backward()
    assert delta.grad is not None and delta.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(2, 3, 5, 8, 8), (1, 2, 4, 6, 7), (1, 1, 3, 5, 9),
                                   (1, 1, 2, 1, 1)])
def test_zdiv_gradient_is_autograds_through_the_per_slice_full_fft(shape):
    torch.manual_seed(0)
    delta = torch.randn(shape, dtype=torch.float64)
    assert torch.autograd.gradcheck(_ZDiv.apply, (delta.clone().requires_grad_(True),))
    fast = delta.float().requires_grad_(True)
    zdiv(fast).backward()
    slow = delta.clone().requires_grad_(True)
    slow_zdiv(slow).backward()
    torch.testing.assert_close(fast.grad.double(), slow.grad, rtol=1e-4, atol=1e-6)


def test_zdiv_gradient_is_zero_where_the_spectrum_is():
    delta = torch.zeros(1, 1, 3, 4, 4, requires_grad=True)
    zdiv(delta).backward()
    assert torch.equal(delta.grad, torch.zeros_like(delta))


def test_semantic_term_and_objective_signs():
    clean = torch.zeros(1, 3, 2, 2, 2)
    perturbed = torch.full((1, 3, 2, 2, 2), 0.5, requires_grad=True)
    assert semantic_disruption(perturbed, clean).item() == pytest.approx(0.5)
    delta = torch.randn(1, 1, 3, 4, 4)
    seg = torch.tensor(1.0)
    loss = objective(seg, delta, perturbed, clean, lambda_z=0.2, lambda_l=0.05)
    expected = 1.0 - 0.2 * zdiv(delta).item() - 0.05 * 0.5
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_roi_masks():
    labels = torch.zeros(1, 1, 16, 16, 16, dtype=torch.long)
    labels[..., 6:10, 6:10, 6:10] = 2
    hard = roi_mask(labels, "hard")
    assert torch.equal(hard, (labels > 0).float())
    soft = roi_mask(labels, "soft")
    assert soft.max().item() == pytest.approx(1.0)
    assert soft[labels > 0].min() > 0.5
    assert soft[..., 0, 0, 0].item() < 1e-3  # far from the foreground: (near) zero
    with pytest.raises(ValueError, match="hard"):
        roi_mask(labels, "fuzzy")


def _fit(name, tiny, seed=0, fit_dsc=1.01):
    dataset = registry.datasets.get("spheres")()
    cases = dataset.build(tiny, 0)
    train = split_cases(cases).train
    method = registry.methods.get(name)(4 / 255, tiny, max_surrogate_updates=4, s_steps=2,
                                        fit_dsc=fit_dsc, channels_last=False,
                                        surrogate_channels="8-16-32")
    ctx = RunContext(tiny, seed, torch.device("cpu"), 1, dataset.n_classes, progress=False)
    method.fit(train, ctx)
    return method, train, ctx


@pytest.mark.parametrize("name", ["voxshield", "voxshield-pgd"])
def test_deltas_stay_in_budget_roi_and_are_deterministic(name, tiny):
    method, train, ctx = _fit(name, tiny)
    again, _, _ = _fit(name, tiny)
    for case in train:
        delta = method.perturb(case, ctx)
        assert delta.shape == case.image.shape
        assert np.abs(delta).max() <= 4 / 255 + 1e-7
        assert np.all(delta[:, ~case.foreground] == 0)
        assert np.abs(delta).max() > 0
        np.testing.assert_array_equal(delta, again.perturb(case, ctx))
        stored = quantise(case.image, delta, 4 / 255, case.id)
        released = release(case.image, stored, 4 / 255, case.id)
        assert np.abs(released - case.image).max() <= 4 / 255 + 1e-6
    history = method.describe()["history"]
    assert len(history) == 2 and {"zdiv", "surrogate_train_dsc"} <= set(history[0])


def test_generator_protects_unseen_cases_and_pgd_refuses(tiny):
    cases = registry.datasets.get("spheres")().build(tiny, 0)
    unseen = split_cases(cases).test[0]
    generator, _, ctx = _fit("voxshield", tiny)
    assert np.abs(generator.perturb(unseen, ctx)).max() > 0
    pgd, _, ctx = _fit("voxshield-pgd", tiny)
    with pytest.raises(ValueError, match="unseen"):
        pgd.perturb(unseen, ctx)


def test_end_to_end_on_spheres(tmp_path):
    pipeline = Pipeline(tmp_path / "runs", cache_root=tmp_path / "cache", device="cpu",
                        progress=False)
    spec = RunSpec("voxshield", "unet", "spheres", preset="tiny",
                   method_params={"max_surrogate_updates": 2, "s_steps": 2,
                                  "surrogate_channels": "8-16-32"})
    record, _ = pipeline.run(spec)
    assert record["method"]["params"]["lambda_z"] == 0.2
    assert record["method"]["params"]["max_surrogate_updates"] == 2
    assert "fit_dsc" in record["method"]["deviations"]
    assert "quick preset" in record["method"]["deviations"]
    assert 0 < record["fidelity"]["linf"] <= 4 / 255 + 1e-6
