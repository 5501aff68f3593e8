"""The energy-matched controls (spec/baselines.md, issue 32): ``random-signs-roi`` (i.i.d. +-eps
signs on the foreground) and ``random-signs-classwise`` (one +-eps sign per label class and
channel, the same in every case of a seed). Both saturate the budget on the foreground: three
times the energy of ``random-roi``'s uniform noise."""

import math

import numpy as np
import pytest
import torch

from uebench.contracts import registry
from uebench.contracts.conformance import CONFORMANCE_PRESET
from uebench.contracts.core import Case, RunContext
from uebench.methods.random_signs_classwise import sign_table

EPS = 4 / 255
SIGNS, CLASSWISE = "random-signs-roi", "random-signs-classwise"
N_CLASSES, CHANNELS, EDGE = 21, 2, 16


def case(case_id: str, seed: int = 0) -> Case:
    """A 2-channel 16^3 case with labels 0..20 at random (about 1/21 of it background)."""
    rng = np.random.default_rng([seed, 99])
    label = rng.integers(0, N_CLASSES, (EDGE,) * 3).astype(np.uint8)
    image = rng.uniform(0.2, 0.8, (CHANNELS, *label.shape)).astype(np.float32)
    return Case(case_id, image, label)


def perturb(name: str, cases: list[Case], seed: int = 0) -> list[np.ndarray]:
    """A fresh instance of ``name`` perturbing ``cases`` in the given order."""
    method = registry.methods.get(name)(EPS, CONFORMANCE_PRESET)
    ctx = RunContext(CONFORMANCE_PRESET, seed, torch.device("cpu"), CHANNELS, N_CLASSES,
                     progress=False)
    method.fit(cases, ctx)
    return [method.perturb(c, ctx) for c in cases]


@pytest.mark.parametrize("name", [SIGNS, CLASSWISE])
def test_the_delta_is_at_the_bound_on_the_foreground_and_zero_elsewhere(name):
    one = case("a")
    (delta,) = perturb(name, [one])
    foreground = np.broadcast_to(one.foreground, delta.shape)
    assert delta.dtype == np.float32 and delta.shape == one.image.shape
    assert (~foreground).any() and np.all(delta[~foreground] == 0)
    assert np.all(np.abs(delta[foreground]) == np.float32(EPS))
    assert (delta[foreground] > 0).any() and (delta[foreground] < 0).any()


@pytest.mark.parametrize("name", [SIGNS, CLASSWISE])
def test_the_foreground_energy_is_three_times_random_roi(name):
    """Mean square on the foreground: eps^2 exactly here, eps^2 / 3 for random-roi's uniform
    noise (within 5 standard errors: Var(u^2) = 4 eps^4 / 45 for u uniform in [-eps, eps])."""
    one = case("a")
    foreground = np.broadcast_to(one.foreground, one.image.shape)
    (delta,), (uniform,) = perturb(name, [one]), perturb("random-roi", [one])
    n = int(foreground.sum())
    energy = float(np.mean(delta[foreground].astype(np.float64) ** 2))
    control = float(np.mean(uniform[foreground].astype(np.float64) ** 2))
    assert energy == pytest.approx(EPS**2, rel=1e-6)
    assert abs(control - EPS**2 / 3) <= 5 * EPS**2 * math.sqrt(4 / 45 / n)
    tolerance = 3 * 5 * math.sqrt(4 / 45 / n) / (1 / 3)  # the control's bound on the ratio
    assert energy / control == pytest.approx(3, abs=tolerance)


@pytest.mark.parametrize("name", [SIGNS, CLASSWISE])
def test_deltas_are_fixed_by_seed_and_case_whatever_the_order(name):
    cases = [case("a"), case("b", seed=1)]
    forward = perturb(name, cases)
    backward = perturb(name, cases[::-1])[::-1]
    for first, again in zip(forward, backward):
        np.testing.assert_array_equal(first, again)
    for first, other in zip(forward, perturb(name, cases, seed=1)):
        assert (first != other).mean() > 0.1  # a new seed draws new signs


def test_random_signs_differ_from_voxel_to_voxel_and_case_to_case():
    """i.i.d. signs: balanced (within 5 standard errors), and two cases with the same image
    and label but another id get other signs."""
    one, renamed = case("a"), case("a-renamed")
    first, second = perturb(SIGNS, [one, renamed])
    signs = np.sign(first[np.broadcast_to(one.foreground, first.shape)])
    assert abs(signs.mean()) <= 5 / math.sqrt(signs.size)
    assert 0.4 < (first != second).mean() < 0.6


def test_random_signs_are_the_signs_of_random_roi_at_the_same_seed():
    """Paired with random-roi cell by cell, the two rows differ in magnitude only."""
    one = case("a")
    (signs,), (uniform,) = perturb(SIGNS, [one]), perturb("random-roi", [one])
    np.testing.assert_array_equal(np.sign(signs), np.sign(uniform))


def test_classwise_sign_is_one_per_class_and_channel_and_the_same_in_every_case():
    cases = [case("a"), case("b", seed=1), case("c", seed=2)]
    assert not np.array_equal(cases[0].label, cases[1].label)
    deltas = perturb(CLASSWISE, cases)
    table = np.full((CHANNELS, N_CLASSES), np.nan)
    for one, delta in zip(cases, deltas):
        for k in range(1, N_CLASSES):
            for c in range(CHANNELS):
                values = np.unique(delta[c][one.label == k])
                assert values.size == 1, (one.id, k, c)
                if np.isnan(table[c, k]):
                    table[c, k] = values[0]
                assert values[0] == table[c, k], (one.id, k, c)  # the same in every case
    # both signs occur among the 40 (all alike: probability 2^-39), and a class's sign is
    # drawn per channel (the channels alike in all 20 classes: probability 2^-20)
    assert (table[:, 1:] > 0).any() and (table[:, 1:] < 0).any()
    assert not np.array_equal(table[0, 1:], table[1, 1:])


def test_classwise_signs_change_with_the_seed_and_not_with_the_classes_present():
    assert not np.array_equal(sign_table(0, N_CLASSES, CHANNELS), sign_table(1, N_CLASSES,
                                                                                  CHANNELS))
    few = case("few")
    few.label = np.minimum(few.label, 3)  # a case with classes 1..3 only
    (delta,) = perturb(CLASSWISE, [few])
    full = sign_table(0, N_CLASSES, CHANNELS)
    for k in range(1, 4):
        for c in range(CHANNELS):
            assert np.all(delta[c][few.label == k] == np.float32(EPS) * full[c, k])


def test_the_report_draws_each_grey_control_with_its_own_marker():
    from uebench.report.figures import CONTROL_STYLES, palette
    from uebench.results.records import CONTROL

    roles = {name: registry.methods.get(name).role
             for name in ("random", SIGNS, CLASSWISE, "random-roi", "voxshield")}
    styles = palette(roles).styles
    grey = [styles[name] for name in ("random", SIGNS, CLASSWISE)]
    assert grey[0] == CONTROL_STYLES[CONTROL]  # random keeps the style the boards show
    assert all(s["color"] == "0.5" and s["linestyle"] == "--" for s in grey)
    assert len({s["marker"] for s in grey}) == 3
