"""Victim recipes (issue 31): named, recorded, and what each field changes in training; the
authors' recipe end to end (protected val split, selection rule, VoxShield's reference
schedule); victim parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from monai.networks.nets import UNet

from uebench.contracts import registry
from uebench.contracts.core import Preset
from uebench.contracts.params import ParameterError
from uebench.contracts.presets import get_preset
from uebench.contracts.recipes import AUTHORS, DEFAULT, RECIPES, WALK, Recipe, get_recipe
from uebench.contracts.registry import register_preset
from uebench.contracts.walk import STEPS, WALK_BASE, step_of
from uebench.runner.pipeline import Pipeline, RunSpec, resolve
from uebench.runner.stages import protection_key, stage_id
from uebench.runner.training import augmentation, monitor_every, optimiser, train_segmenter
from uebench.runner.victim_spec import canonical_victim, parse_victim

TINY_AUTHORS = register_preset(Preset(name="tiny-authors", volume_size=32, n_cases=8, epochs=3,
                                      batch_size=2, lr=2e-3, split=(4, 2, 2),
                                      surrogate_updates=4, recipe="authors"))
TINY_OURS = register_preset(dataclasses.replace(TINY_AUTHORS, name="tiny-ours",
                                                recipe=DEFAULT))


def test_walk_runs_from_authors_to_uebench_one_field_at_a_time():
    assert WALK[0] is AUTHORS and WALK[-1] is RECIPES[DEFAULT]
    fields = [f.name for f in dataclasses.fields(Recipe) if f.name not in ("name", "summary")]
    for before, after in zip(WALK, WALK[1:]):
        moved = [f for f in fields if getattr(before, f) != getattr(after, f)]
        assert moved, f"{after.name} moves nothing"
        assert all(getattr(after, f) == getattr(RECIPES[DEFAULT], f) for f in moved)
    assert [name for _, name, _ in STEPS] == [r.name for r in WALK]
    assert STEPS[-1][2] == WALK_BASE and step_of("walk-authors") == 0
    for _, recipe, preset in STEPS:
        assert get_preset(preset).recipe == recipe
        assert get_preset(preset).epochs == get_preset(WALK_BASE).epochs


def test_paper_runs_the_authors_recipe_and_other_presets_keep_their_keys():
    assert get_preset("paper").recipe == "authors"
    assert "recipe" not in get_preset("quick").to_dict()  # the default recipe adds no field
    assert get_preset("walk-authors").to_dict()["recipe"] == "authors"


def test_unknown_recipe_names_the_close_ones():
    with pytest.raises(ValueError, match="Did you mean: authors"):
        get_recipe("author")
    with pytest.raises(ValueError, match="activation must be one of"):
        Recipe("x", activation="gelu")


def test_optimiser_decays_weights_only_with_the_authors_betas():
    model = UNet(3, 1, 2, channels=(4, 8), strides=(2,), num_res_units=1, norm="instance")
    adam = optimiser(model, TINY_AUTHORS, AUTHORS)
    decayed, spared = adam.param_groups
    assert decayed["weight_decay"] == 5e-4 and spared["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"]) and spared["params"]
    assert all(p.ndim <= 1 for p in spared["params"]) and decayed["betas"] == (0.9, 0.9999)
    ours = optimiser(model, TINY_OURS, RECIPES[DEFAULT])
    assert len(ours.param_groups) == 1 and ours.param_groups[0]["betas"] == (0.9, 0.999)
    assert ours.param_groups[0]["weight_decay"] == TINY_OURS.weight_decay


def test_no_augmentation_is_the_identity_and_intensity_changes_volumes():
    volume = np.random.default_rng(0).random((1, 8, 8, 8), dtype=np.float32)
    assert augmentation(AUTHORS, 0)(volume) is volume
    intensity = augmentation(RECIPES[DEFAULT], 0)
    assert any(not np.allclose(np.asarray(intensity(volume)), volume) for _ in range(8))


def test_victim_activation_follows_the_recipe_unless_the_victim_names_one():
    unet = registry.victims.get("unet")()
    assert "ReLU" in str(unet.build(1, 2, TINY_AUTHORS)) and "PReLU" not in str(
        unet.build(1, 2, TINY_AUTHORS))
    default = UNet(3, 1, 2, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2,
                   norm="instance")
    assert str(unet.build(1, 2, TINY_OURS)) == str(default)  # uebench's victim as it was
    cls, values = parse_victim("unet:act=relu")
    assert "PReLU" not in str(cls(**values).build(1, 2, TINY_OURS))
    assert cls(**values).describe(TINY_OURS)["activation"] == "relu"
    assert canonical_victim("unet:act=relu") == "unet:act=relu"
    assert canonical_victim("unet") == "unet"
    swin = registry.victims.get("swinunetr")()
    assert swin.describe(TINY_AUTHORS)["activation"] == "the network's own"


@pytest.mark.parametrize("spec, message", [
    ("unet:act=gelu", "parameter act expects one of 'prelu', 'relu'"),
    ("unet:width=3", "has no parameter 'width'"),
    ("swinunetr:act=relu", "has no parameter 'act'"),
])
def test_bad_victim_parameters_are_one_line_errors(spec, message):
    with pytest.raises(ParameterError, match=message) as raised:
        parse_victim(spec)
    assert "\n" not in str(raised.value)


def test_train_segmenter_logs_the_test_curve_and_the_selection_rule():
    torch.manual_seed(0)
    model = UNet(3, 1, 2, channels=(4, 8), strides=(2,), num_res_units=1, norm="instance")
    rng = np.random.default_rng(0)
    images = rng.random((2, 1, 16, 16, 16), dtype=np.float32)
    labels = (images[:, 0] > 0.5).astype(np.uint8)
    preset = dataclasses.replace(TINY_AUTHORS, volume_size=16, epochs=12)
    scores, losses = iter(np.linspace(0.1, 0.9, 12)), iter([3.0, 2.0, 1.0, 1.0] + [5.0] * 8)
    out = train_segmenter(model, images, labels, preset, 0, torch.device("cpu"), progress=False,
                          monitor=lambda m: float(next(scores)),
                          select_by=lambda m: next(losses))
    assert monitor_every(preset) == 2
    assert out["test_dsc"]["epochs"] == [2, 4, 6, 8, 10, 12]
    assert out["selected_epoch"] == 3 and out["val_loss"][:4] == [3.0, 2.0, 1.0, 1.0]
    assert set(out["selected_weights"]) == set(model.state_dict())


def test_protection_is_shared_by_recipes_that_protect_the_same_cases():
    walk = [get_preset(p) for _, _, p in STEPS]
    em = [RunSpec("em", "unet", preset=p.name) for p in walk]
    keys = {stage_id("protect", s) for s in em}
    assert len(keys) == 2  # train + val (the authors' selection rule) or train only
    vox = {stage_id("protect", RunSpec("voxshield", "unet", preset=p.name)) for p in walk}
    assert len(vox) == 3  # and VoxShield's schedule: reference, then the fit rule
    method = registry.methods.get("em")(4 / 255, walk[0])
    assert (protection_key("d", method, 0, walk[0])
            == protection_key("d", method, 0, walk[1]))


def test_early_stopping_and_the_authors_selection_rule_are_refused_together():
    with pytest.raises(ValueError, match="use one selection rule"):
        resolve(RunSpec("random-roi", "unet", "spheres", defense="early-stop",
                        preset="tiny-authors"))


@pytest.mark.slow
def test_the_authors_recipe_end_to_end(tmp_path):
    """VoxShield under the authors' recipe: the reference schedule's fixed epochs at the
    generator ratio, val protected, the victim selected by its protected val loss; the record
    says so, and no surrogate warning calls the fixed schedule short."""
    pipeline = Pipeline(tmp_path / "runs", cache_root=tmp_path / "cache", device="cpu",
                        progress=False)
    params = {"s_steps": 2, "surrogate_channels": "8-16-32"}
    record, _ = pipeline.run(RunSpec("voxshield", "unet", "spheres", preset="tiny-authors",
                                     method_params=params))
    assert record["protocol"] == 4
    assert record["recipe"]["name"] == "authors" and record["recipe"]["betas"] == [0.9, 0.9999]
    assert record["recipe"]["weight_decay"] == 5e-4 and record["victim"]["activation"] == "relu"
    history = record["method"]["history"]
    assert len(history) == 2  # 4 surrogate updates / 2 S-steps, whatever the DSC
    assert all(row["generator_steps"] == 7 for row in history)  # round(3.6 x 2) >= 3 a pass
    assert history[0]["roi_sign_flipped"] is None
    assert all(0 <= row["roi_at_bound"] <= 1 for row in history)
    assert 0 <= history[1]["roi_sign_flipped"] <= 1
    assert record["method"]["surrogate"]["schedule"] == "reference"
    assert record["method"]["params"]["generator_lr"] == 1e-4
    from uebench.results.records import surrogate_warning
    assert surrogate_warning(record) is None
    for role in ("clean", "protected"):
        curve = record["throughput"]["victim_training"][role]["test_dsc"]
        assert curve["epochs"] == [1, 2, 3] and curve["selection"] == "protected-val-loss"
        assert curve["at_val_loss_rule"] is not None and curve["last"] is not None
        assert curve["min"] <= max(v for v in curve["values"] if v is not None)
        training = record["throughput"]["victim_training"][role]
        assert len(training["val_loss"]) == 3 and 1 <= training["selected_epoch"] <= 3
    protected = record["efficacy"]["protected_trained"]["dsc_fg_mean"]
    assert protected == record["throughput"]["victim_training"]["protected"]["test_dsc"][
        "at_val_loss_rule"]
