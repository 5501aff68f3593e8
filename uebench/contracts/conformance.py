"""Conformance checks any protection method can run on itself (the method author's kit).

    from uebench.contracts.conformance import check_method
    check_method("my-noise")          # raises AssertionError naming the broken rule,
                                      # prints one line saying what passed otherwise

Checks, on a tiny ``spheres`` cohort: the method builds with its defaults and describes itself
(JSON-serialisable parameters, norm, epsilon); ``fit`` then ``perturb`` give finite deltas of
the image's shape; the method's budget (L-inf unless it declares another) holds on the stored
form and the released volume stays in [0, 1]; the same seed gives the same deltas. A method
shortens its schedule for these checks with the class attribute ``conformance_params``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from uebench.contracts import registry
from uebench.contracts.core import Case, Preset, RunContext
from uebench.results.records import describe_budget
from uebench.runner.data import split_cases

CONFORMANCE_PRESET = Preset(name="conformance", volume_size=32, n_cases=5, epochs=1,
                            batch_size=2)


def _cases() -> list[Case]:
    return registry.datasets.get("spheres")().build(CONFORMANCE_PRESET, 0)


def _fit_and_perturb(name: str, epsilon: float, seed: int, cases: list[Case],
                     params: dict[str, Any]) -> tuple[Any, RunContext, list[np.ndarray]]:
    method_cls = registry.methods.get(name)
    overrides = {**getattr(method_cls, "conformance_params", {}), **params}
    method = method_cls(epsilon, CONFORMANCE_PRESET, **overrides)
    ctx = RunContext(CONFORMANCE_PRESET, seed, torch.device("cpu"), cases[0].image.shape[0],
                     4, progress=False)
    train = split_cases(cases).train
    method.fit(train, ctx)
    return method, ctx, [np.asarray(method.perturb(case, ctx)) for case in train]


def check_method(name: str, epsilon: float = 4 / 255, seed: int = 0,
                 params: dict[str, Any] | None = None, quiet: bool = False) -> str:
    """Run every conformance rule on the registered method ``name``; returns (and prints,
    unless ``quiet``) a one-line summary of what passed."""
    cases = _cases()
    train = split_cases(cases).train
    method, ctx, deltas = _fit_and_perturb(name, epsilon, seed, cases, params or {})
    budget = method.budget(ctx)
    described = method.describe()
    assert described["name"] == name, f"{name}: describe() names {described['name']!r}"
    assert described["epsilon"] == epsilon, f"{name}: describe() lost epsilon"
    assert described["params"] == method.params, f"{name}: describe() lost its parameters"
    assert described["norm"] == budget.norm, (
        f"{name}: declares norm {described['norm']!r} but its budget is {budget.norm!r}")
    json.dumps(described)  # the record must be JSON
    for case, delta in zip(train, deltas):
        assert delta.shape == case.image.shape, (
            f"{name}: delta shape {delta.shape} != image shape {case.image.shape}")
        assert np.all(np.isfinite(delta)), f"{name}: non-finite delta on {case.id}"
        stored = budget.store(case.image, delta.astype(np.float32), f"{name} on {case.id}")
        released = budget.release(case.image, stored, f"{name} on {case.id}")
        assert 0.0 <= released.min() and released.max() <= 1.0, f"{name}: left [0, 1]"
    _, _, again = _fit_and_perturb(name, epsilon, seed, cases, params or {})
    for case, first, second in zip(train, deltas, again):
        assert np.array_equal(first, second), f"{name}: same seed, different delta on {case.id}"
    bound = describe_budget(budget.describe(), name_linf=True)
    passed = (f"check_method({name!r}): passed on {len(train)} spheres cases "
              f"({CONFORMANCE_PRESET.volume_size}^3, seed {seed}): describe() and JSON params, "
              f"delta shape, finite, budget ({bound}) on the stored form, released volume in "
              "[0, 1], same seed -> same deltas")
    if not quiet:
        print(passed)
    return passed
