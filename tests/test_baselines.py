"""Unit checks of the baselines' building blocks (the conformance suite covers the rest)."""

import numpy as np
import pytest
import torch

from uebench.kit.poisoning import class_pattern_delta, pgd, signed_step
from uebench.methods.ar import ar_field
from uebench.methods.lsp import patch_texture
from uebench.methods.slicewise import to_slices
from uebench.methods.tap import target_map


def test_class_pattern_delta_places_each_class_pattern_at_its_voxels():
    patterns = torch.stack([torch.full((2, 4, 4, 4), float(k)) for k in range(3)])
    labels = torch.randint(0, 3, (2, 1, 4, 4, 4))
    delta = class_pattern_delta(patterns, labels)
    assert delta.shape == (2, 2, 4, 4, 4)
    assert torch.equal(delta[:, 0], labels[:, 0].float())
    assert torch.equal(delta[:, 1], labels[:, 0].float())


def test_signed_step_and_pgd_stay_in_the_ball_and_descend():
    delta = torch.zeros(3)
    moved = signed_step(delta, torch.tensor([1.0, -2.0, 0.0]), 0.5, 0.4)
    assert torch.equal(moved, torch.tensor([-0.4, 0.4, 0.0]))
    target = torch.tensor([0.3, -0.3, 0.1])
    result = pgd(lambda d: ((d - target) ** 2).sum(), torch.zeros(3), 40, 0.01, 0.2)
    assert result.abs().max() <= 0.2 + 1e-7
    assert ((result - target) ** 2).sum() < (target**2).sum()


def test_tap_target_map_is_a_cyclic_permutation():
    labels = torch.arange(4).view(1, 1, 4, 1, 1)
    assert target_map(labels, 4).flatten().tolist() == [1, 2, 3, 0]


def test_slices_are_case_major_and_keep_order():
    volumes = torch.arange(2 * 1 * 3 * 2 * 2).float().view(2, 1, 3, 2, 2)
    slices = to_slices(volumes)
    assert slices.shape == (6, 1, 2, 2)
    assert torch.equal(slices[4, 0], volumes[1, 0, 1])


def test_lsp_texture_is_piecewise_constant_on_patches():
    texture = patch_texture(np.random.default_rng(0), (2, 10, 12, 8), 4)
    assert texture.shape == (2, 10, 12, 8)
    assert np.abs(texture).max() <= 1
    assert len(np.unique(texture[0, :4, :4, :4])) == 1
    assert not np.array_equal(texture[0, :4, :4, :4], texture[0, 4:8, :4, :4])


def test_ar_field_is_reproducible_correlated_and_class_specific():
    coefficients = np.random.default_rng(0).standard_normal((2, 12))
    coefficients /= np.abs(coefficients).sum(axis=1, keepdims=True)
    first = ar_field(coefficients[0], (6, 8, 8), np.random.default_rng(1))
    again = ar_field(coefficients[0], (6, 8, 8), np.random.default_rng(1))
    other = ar_field(coefficients[1], (6, 8, 8), np.random.default_rng(1))
    np.testing.assert_array_equal(first, again)
    assert first.shape == (6, 8, 8) and np.all(np.isfinite(first))
    assert not np.allclose(first, other)


def _fitted(name, tiny):
    from uebench.contracts import registry
    from uebench.contracts.conformance import CONFORMANCE_PRESET
    from uebench.contracts.core import RunContext

    cases = registry.datasets.get("spheres")().build(tiny, 0)[:3]
    cls = registry.methods.get(name)
    method = cls(4 / 255, CONFORMANCE_PRESET, **getattr(cls, "conformance_params", {}))
    ctx = RunContext(CONFORMANCE_PRESET, 0, torch.device("cpu"), 1, 4, progress=False)
    method.fit(cases, ctx)
    return method, cases, ctx


@pytest.mark.parametrize("name", ["lsp", "em-classwise"])
def test_classwise_patterns_are_shared_across_cases(name, tiny):
    """delta(v) = P_{y(v)}(v): where two cases have the same label, they get the same noise."""
    method, cases, ctx = _fitted(name, tiny)
    first, second = (method.perturb(c, ctx) for c in cases[:2])
    same = cases[0].label == cases[1].label
    assert same.any() and np.abs(first).max() > 0
    np.testing.assert_array_equal(first[:, same], second[:, same])
    assert not np.array_equal(first[:, ~same], second[:, ~same])


def test_ar_noise_fills_the_budget_in_every_class(tiny):
    method, cases, ctx = _fitted("ar", tiny)
    delta = method.perturb(cases[0], ctx)
    for k in np.unique(cases[0].label):
        np.testing.assert_allclose(np.abs(delta[0][cases[0].label == k]).max(), 4 / 255,
                                   rtol=1e-6)


def test_ops_cells_skip_incomplete_borders_and_cover_every_offset():
    from uebench.methods.ops import cell_offsets

    offsets = cell_offsets((5, 4, 4), 2)
    assert (offsets[4] == -1).all() and (offsets[:4] >= 0).all()
    assert sorted(np.unique(offsets[:4])) == list(range(8))
    assert offsets[0, 0, 1] == 1 and offsets[0, 1, 0] == 2 and offsets[1, 0, 0] == 4


def test_ops_search_prefers_the_stable_deviation_and_perturbs_one_voxel_per_class_cell():
    from uebench.contracts.core import Case
    from uebench.methods.ops import OnePixelShortcut, search_shortcut

    rng = np.random.default_rng(0)
    cases = []
    for i in range(3):
        image = rng.uniform(0.3, 0.7, (1, 4, 4, 4)).astype(np.float32)
        image[0, ::2, ::2, ::2] = 0.05  # offset 0 of every cell: stably far from 1
        label = np.zeros((4, 4, 4), np.int64)
        label[2:] = 1
        cases.append(Case(f"c{i}", image, label))
    shortcut = search_shortcut(cases, 2, 2)
    assert shortcut == {0: (0, 1), 1: (0, 1)}  # offset 0, colour (1,)
    method = OnePixelShortcut(4 / 255, None, cell=2)
    method.colours, method.shortcut = np.array([[0.0], [1.0]], np.float32), shortcut
    delta = method.perturb(cases[0], None)
    changed = delta[0] != 0
    assert changed.sum() == 8 and np.allclose((cases[0].image + delta)[0][changed], 1.0)


def test_rem_flip_moves_image_and_label_together_and_attack_stays_in_radius():
    from uebench.kit.adversarial import adversarial_delta, random_flip

    image = torch.arange(8.0).view(1, 1, 2, 2, 2)
    flipped, label = random_flip(image, image.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(flipped, label) and not torch.equal(flipped, image)
    model = torch.nn.Conv3d(1, 2, 1)
    x = torch.rand(2, 1, 4, 4, 4)
    y = torch.randint(0, 2, (2, 4, 4, 4))

    def loss_fn(logits, target):
        return torch.nn.functional.cross_entropy(logits, target)

    attack = adversarial_delta(model, loss_fn, x, y, 0.1, 5, torch.Generator().manual_seed(0))
    assert attack.abs().max() <= 0.1 + 1e-7
    with torch.no_grad():
        assert loss_fn(model((x + attack).clamp(0, 1)), y) > loss_fn(model(x), y)


SURROGATE_METHODS = ["voxshield", "voxshield-pgd", "em", "em-classwise", "tap", "slicewise",
                     "slicewise-tap", "rem"]


@pytest.mark.parametrize("name", SURROGATE_METHODS)
def test_every_surrogate_method_follows_the_shared_fit_rule(name, tiny):
    """One rule: stop at the first iteration whose surrogate train DSC reaches fit_dsc, else
    run until max_surrogate_updates updates; every iteration is a history row."""
    from uebench.contracts import registry
    from uebench.contracts.conformance import CONFORMANCE_PRESET
    from uebench.contracts.core import RunContext

    cases = registry.datasets.get("spheres")().build(tiny, 0)[:3]
    cls = registry.methods.get(name)
    ctx = RunContext(CONFORMANCE_PRESET, 0, torch.device("cpu"), 1, 4, progress=False)

    def iterations(**rule):
        params = {**cls.conformance_params, **rule}
        method = cls(4 / 255, CONFORMANCE_PRESET, **params)
        method.fit(cases, ctx)
        return [row for row in method.describe()["history"] if "surrogate_train_dsc" in row]

    assert len(iterations(fit_dsc=0.0, max_surrogate_updates=8)) == 1
    capped = iterations(fit_dsc=1.01, max_surrogate_updates=4)
    assert len(capped) == 2
    assert "fit_dsc" in cls.deviations
