"""Conformance checks any plugin can run on itself (the plugin author's kit).

    from uebench.contracts.conformance import check_method
    check_method("my-noise")          # raises AssertionError naming the broken rule,
                                      # prints one line saying what passed otherwise

Checks, on a tiny ``spheres`` cohort: the method builds with its defaults and describes itself
(JSON-serialisable parameters, norm, epsilon); ``fit`` then ``perturb`` give finite deltas of
the image's shape; the method's budget (L-inf unless it declares another) holds on the stored
form and the released volume stays in [0, 1]; the same seed gives the same deltas. A method
shortens its schedule for these checks with the class attribute ``conformance_params``.

The other kinds have their kit too, each raising AssertionError naming the broken rule:
``check_victim(name)`` (builds at its declared minimum size, the same seed gives the same
weights, one training step gives logits of the input's shape and moves the weights),
``check_defense(name)`` (deterministic under a seed; shape, dtype and range kept; the label
kept aligned with the image; a data defense through ``apply(image, label, rng)``, a
training-time one through ``start(seed)`` and ``batch_loss``, leaving the global random state
alone) and ``check_dataset(spec)`` (cases of the declared shapes and dtypes, the same cases
from the same seed, a stable fingerprint, a split into disjoint non-empty parts).
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from uebench.contracts import registry
from uebench.contracts.core import Case, Dataset, Preset, RunContext
from uebench.results.records import describe_budget
from uebench.runner.data import fingerprint, preset_split, resolve_dataset, split_cases
from uebench.runner.training import dice_ce_loss, seed_everything

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
    _check_surrogate_state(name, method, described)
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


def _check_surrogate_state(name: str, method: Any, described: dict[str, Any]) -> None:
    """A method that logs a surrogate's train DSC says after fit what the surrogate became
    (``surrogate``: updates, last train DSC, whether it reached ``fit_dsc``); its unfitted
    description, part of the protection's cache key, does not."""
    logged = [row["surrogate_train_dsc"] for row in described.get("history", [])
              if "surrogate_train_dsc" in row]
    if not logged:
        return
    unfitted = type(method)(method.epsilon, CONFORMANCE_PRESET, **method.params).describe()
    assert "surrogate" not in unfitted, f"{name}: the unfitted describe() has 'surrogate'"
    state = described.get("surrogate")
    assert state is not None, f"{name}: logs a surrogate's DSC but describe() has no 'surrogate'"
    assert state["train_dsc"] == logged[-1], f"{name}: surrogate train_dsc is not the last logged"
    assert state["reached_fit_dsc"] == (logged[-1] >= method.params["fit_dsc"]), (
        f"{name}: surrogate reached_fit_dsc disagrees with its last DSC")
    assert state["updates"] >= 1, f"{name}: a fitted surrogate took no update"


def check_victim(name: str, seed: int = 0, in_channels: int = 2, n_classes: int = 4,
                 quiet: bool = False) -> str:
    """Run the victim rules on the registered victim ``name`` at its declared minimum volume
    size (the smallest multiple of ``size_multiple`` at or above ``min_size``); returns (and
    prints, unless ``quiet``) a one-line summary of what passed."""
    victim = registry.victims.get(name)()
    size = -(-victim.min_size // victim.size_multiple) * victim.size_multiple
    victim.check_size(size)  # its own minimum must be accepted
    preset = replace(CONFORMANCE_PRESET, volume_size=size)
    seed_everything(seed)
    model = victim.build(in_channels, n_classes, preset)
    seed_everything(seed)
    again = victim.build(in_channels, n_classes, preset)
    assert str(model) == str(again), f"{name}: two builds differ in architecture"
    for (key, first), second in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(first, second), f"{name}: same seed, different initial {key}"
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((2, in_channels, size, size, size), generator=generator)
    y = torch.randint(n_classes, (2, 1, size, size, size), generator=generator)
    before = [p.detach().clone() for p in model.parameters()]
    optimiser = torch.optim.Adam(model.parameters(), lr=preset.lr)
    model.train()
    try:
        logits = model(x)
    except Exception as error:  # noqa: BLE001 - said as the broken rule
        raise AssertionError(f"{name}: fails at its declared minimum size {size}^3: "
                             f"{type(error).__name__}: {error}") from error
    expected = (2, n_classes, size, size, size)
    assert tuple(logits.shape) == expected, (
        f"{name}: logits of shape {tuple(logits.shape)} for input {tuple(x.shape)}; "
        f"expected {expected}")
    loss = dice_ce_loss()(logits, y)
    assert torch.isfinite(loss), f"{name}: non-finite loss {loss.item()}"
    loss.backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), (
            f"{name}: non-finite gradient of {key}")
    optimiser.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters())), (
        f"{name}: a training step changed no weight")
    passed = (f"check_victim({name!r}): passed at {size}^3 ({victim.spatial_dims}D, "
              f"{in_channels} channels, {n_classes} classes, seed {seed}): accepts its minimum "
              "size, same seed -> same weights, logits of the input's shape, finite loss and "
              "gradients, one step moves the weights")
    if not quiet:
        print(passed)
    return passed


def _probe(seed: int, step: int = 1, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A spheres label (32^3, or every ``step``-th voxel) and an image whose every channel is
    the label's class / 3 (plus a little noise): a defense that moves the image without its
    label mixes the classes."""
    label = np.ascontiguousarray(_cases()[0].label[::step, ::step, ::step])
    noise = np.random.default_rng(seed).uniform(-0.01, 0.01, (channels, *label.shape))
    return np.clip(label[None] / 3.0 + noise, 0.0, 1.0).astype(np.float32), label


def _aligned(what: str, image: np.ndarray, label: np.ndarray) -> None:
    """The probe's class structure survives: each class's mean image value is strictly
    monotone in the class id (rising, or falling for an intensity inversion) and they span at
    least half of the probe's span (1), so the label still lies over the image structure it
    labels."""
    means = [float(image[:, label == k].mean()) for k in np.unique(label)]
    steps = np.diff(means)
    assert len(means) >= 2 and (np.all(steps > 0) or np.all(steps < 0)) and (
        abs(means[-1] - means[0]) >= 0.5), (
        f"{what}: the label no longer lies over the image it labels (class means "
        f"{[round(m, 3) for m in means]})")


def _check_data_defense(name: str, defense: Any, seed: int) -> str:
    image, label = _probe(seed)
    kept_image, kept_label = image.copy(), label.copy()
    new_image, new_label = defense.apply(image, label, np.random.default_rng(seed))
    assert np.array_equal(image, kept_image) and np.array_equal(label, kept_label), (
        f"{name}: apply() changed its input arrays")
    again = defense.apply(image.copy(), label.copy(), np.random.default_rng(seed))
    assert np.array_equal(new_image, again[0]) and np.array_equal(new_label, again[1]), (
        f"{name}: same seed, different output")
    assert new_image.shape == image.shape and new_label.shape == label.shape, (
        f"{name}: shapes {new_image.shape}, {new_label.shape}; expected {image.shape}, "
        f"{label.shape}")
    assert new_image.dtype == np.float32 and new_label.dtype == label.dtype, (
        f"{name}: dtypes {new_image.dtype}, {new_label.dtype}; expected float32, {label.dtype}")
    assert np.all(np.isfinite(new_image)), f"{name}: non-finite image"
    assert 0.0 <= new_image.min() and new_image.max() <= 1.0, f"{name}: image left [0, 1]"
    assert set(np.unique(new_label)) <= set(np.unique(label)), f"{name}: new label values"
    _aligned(name, new_image, new_label)
    return "apply(): input untouched, same seed -> same output, shape, dtype, [0, 1], labels"


class _Recorder:
    """``loss_fn(model, x, y)`` for a training-time defense: the victim's DiceCE, keeping
    every batch the defense hands it."""

    def __init__(self) -> None:
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.loss = dice_ce_loss()

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.batches.append((x.detach().clone(), y.detach().clone()))
        return self.loss(model(x), y)


def _check_training_defense(name: str, defense: Any, seed: int) -> str:
    image, label = _probe(seed, step=2)  # 16^3: adversarial training's ascent stays cheap
    x = torch.from_numpy(np.stack([image, np.flip(image, 1).copy()]))
    y = torch.from_numpy(np.stack([label, np.flip(label, 0).copy()])).long()[:, None]
    torch.manual_seed(seed)
    model = nn.Conv3d(x.shape[1], 4, 3, padding=1)
    runs = []
    for _ in range(2):
        recorder, state = _Recorder(), torch.get_rng_state()
        trial = copy.deepcopy(defense)
        trial.start(seed)
        loss = trial.batch_loss(model, x.clone(), y.clone(), recorder)
        assert torch.equal(state, torch.get_rng_state()), (
            f"{name}: drew from the global torch random state (seed its own in start)")
        assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad, (
            f"{name}: batch_loss must return a finite scalar loss with gradients")
        assert recorder.batches, f"{name}: batch_loss never called loss_fn"
        runs.append(recorder.batches)
    assert len(runs[0]) == len(runs[1]) and all(
        torch.equal(a, b) for first, second in zip(*runs) for a, b in zip(first, second)), (
        f"{name}: same seed, different batches")
    low, high = min(0.0, float(x.min())), max(1.0, float(x.max()))
    trained_x, trained_y = runs[0][-1]  # the batch the step's gradients come from
    assert trained_x.shape == x.shape and trained_y.shape == y.shape, (
        f"{name}: the loss is of a batch of shape {tuple(trained_x.shape)}, "
        f"{tuple(trained_y.shape)}; expected {tuple(x.shape)}, {tuple(y.shape)}")
    for bx, by in runs[0]:  # a defense may score parts of the batch on the way
        assert bx.shape[1:] == x.shape[1:] and by.shape[1:] == y.shape[1:], (
            f"{name}: a sample of shape {tuple(bx.shape[1:])}, {tuple(by.shape[1:])}; "
            f"expected {tuple(x.shape[1:])}, {tuple(y.shape[1:])}")
        assert bx.dtype == x.dtype and by.dtype == y.dtype, f"{name}: batch dtypes changed"
        assert torch.isfinite(bx).all(), f"{name}: non-finite batch"
        assert low - 0.5 <= float(bx.min()) and float(bx.max()) <= high + 0.5, (
            f"{name}: batch values [{float(bx.min()):.3f}, {float(bx.max()):.3f}] far outside "
            f"the input's [{low:g}, {high:g}]")
        assert set(torch.unique(by).tolist()) <= set(np.unique(label).tolist()), (
            f"{name}: new label values")
    for index in range(len(x)):
        _aligned(f"{name} (sample {index})", trained_x[index].numpy(),
                 trained_y[index, 0].numpy())
    return ("start(seed) + batch_loss(): same seed -> same batches, global random state "
            "untouched, finite scalar loss, shape, dtype, range, labels")


def check_defense(name: str, seed: int = 0, params: dict[str, Any] | None = None,
                  quiet: bool = False) -> str:
    """Run the defense rules on the registered defense ``name`` (built with ``params``) on a
    probe (a spheres label and an image that encodes it); returns (and prints, unless
    ``quiet``) a one-line summary of what passed."""
    defense = registry.defenses.get(name)(**(params or {}))
    assert defense.kind in ("data", "training"), f"{name}: kind {defense.kind!r}"
    check = _check_data_defense if defense.kind == "data" else _check_training_defense
    passed = (f"check_defense({name!r}): passed ({defense.kind} defense, seed {seed}): "
              f"{check(name, defense, seed)} aligned with the image")
    if not quiet:
        print(passed)
    return passed


def _check_case(spec: str, dataset: Dataset, case: Case, size: int) -> None:
    what = f"{spec} {case.id}"
    channels = len(dataset.modalities) or case.image.shape[0]
    assert isinstance(case.id, str) and case.id, f"{spec}: a case without an id"
    assert case.image.dtype == np.float32, f"{what}: image dtype {case.image.dtype}"
    assert case.image.shape == (channels, size, size, size), (
        f"{what}: image shape {case.image.shape}; expected {(channels, size, size, size)}")
    assert np.all(np.isfinite(case.image)), f"{what}: non-finite image"
    assert 0.0 <= case.image.min() and case.image.max() <= 1.0, f"{what}: image outside [0, 1]"
    assert case.label.dtype == np.uint8, f"{what}: label dtype {case.label.dtype}"
    assert case.label.shape == case.image.shape[1:], (
        f"{what}: label shape {case.label.shape} != image {case.image.shape[1:]}")
    assert int(case.label.max()) < dataset.n_classes, (
        f"{what}: label value {int(case.label.max())} with {dataset.n_classes} classes")
    assert len(case.spacing) == 3 and all(s > 0 for s in case.spacing), (
        f"{what}: spacing {case.spacing}")


def _split_ids(cases: list[Case], preset: Preset) -> list[list[str]]:
    split = preset_split(cases, preset)
    return [[case.id for case in part] for part in (split.train, split.val, split.test)]


def check_dataset(spec: str, seed: int = 0, preset: Preset = CONFORMANCE_PRESET,
                  quiet: bool = False) -> str:
    """Run the dataset rules on ``spec`` (a registered name, or ``name:ARGUMENT`` for a
    dataset read from a folder) under ``preset``; returns (and prints, unless ``quiet``) a
    one-line summary of what passed."""
    dataset = resolve_dataset(spec)
    assert dataset.class_names, f"{spec}: no class names"
    for region, classes in dataset.regions.items():
        assert set(classes) <= set(range(1, dataset.n_classes)), (
            f"{spec}: region {region} names classes {classes}")
    cases = dataset.build(preset, seed)
    assert len(cases) >= 3, f"{spec}: {len(cases)} cases; a split needs 3"
    assert len({case.id for case in cases}) == len(cases), f"{spec}: repeated case ids"
    for case in cases:
        _check_case(spec, dataset, case, preset.volume_size)
    again = resolve_dataset(spec).build(preset, seed)
    assert [c.id for c in again] == [c.id for c in cases] and all(
        np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
        for a, b in zip(cases, again)), f"{spec}: same seed, different cases"
    json.dumps(dataset.identity())  # part of every cache key
    assert fingerprint(resolve_dataset(spec), preset) == fingerprint(dataset, preset), (
        f"{spec}: the fingerprint changes between two instances")
    argument = spec.partition(":")[2]
    assert not argument or argument not in dataset.label(), (
        f"{spec}: label() {dataset.label()!r} shows the local path")
    parts = _split_ids(cases, preset)
    assert all(parts), f"{spec}: an empty split part ({[len(p) for p in parts]})"
    assert len({i for part in parts for i in part}) == sum(map(len, parts)), (
        f"{spec}: a case in two split parts")
    assert _split_ids(again, preset) == parts, f"{spec}: the split is not deterministic"
    passed = (f"check_dataset({spec.partition(':')[0]!r}): passed on {len(cases)} cases "
              f"({preset.volume_size}^3, seed {seed}): image float32 [C, D, H, W] in [0, 1], "
              "label uint8 of its classes, spacing, same seed -> same cases, stable "
              f"fingerprint, split {'/'.join(str(len(p)) for p in parts)} disjoint")
    if not quiet:
        print(passed)
    return passed

