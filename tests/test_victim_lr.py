"""A victim's own learning rate: the preset's by default, SegResNet's when its spelling sets
one (``segresnet:lr=0.001``, the transfer board's column, where canary-v64's 0.006 leaves it at
background); the optimiser of every training of that victim uses it and the record says so."""

import re

import pytest
from torch import nn

from uebench.contracts.params import ParameterError
from uebench.contracts.presets import get_preset
from uebench.runner import training
from uebench.runner.pipeline import Pipeline, RunSpec
from uebench.runner.victim_spec import build_victim, canonical_victim


def test_victims_train_at_the_presets_rate_unless_they_set_their_own():
    preset = get_preset("canary-v64")
    assert build_victim("unet").learning_rate(preset) == preset.lr
    assert build_victim("segresnet").learning_rate(preset) == preset.lr
    own = build_victim("segresnet:lr=0.001")
    assert own.learning_rate(preset) == 0.001
    assert own.describe(preset)["lr"] == 0.001 and "deviation" in own.describe(preset)
    assert "lr" not in build_victim("segresnet").describe(preset)
    assert canonical_victim("segresnet:lr=1e-3") == "segresnet:lr=0.001"


@pytest.mark.parametrize("bad", ["segresnet:lr=0", "segresnet:lr=2", "unet:lr=0.001"])
def test_a_learning_rate_out_of_range_or_on_a_victim_without_one_is_refused(bad):
    with pytest.raises(ParameterError):
        canonical_victim(bad)


def test_the_optimiser_takes_the_given_rate_else_the_presets():
    preset, model = get_preset("tiny"), nn.Linear(2, 2)
    assert training.optimiser(model, preset, preset.victim_recipe).defaults["lr"] == preset.lr
    assert training.optimiser(model, preset, preset.victim_recipe, 0.002).defaults["lr"] == 0.002


def test_a_run_trains_its_victims_at_the_victims_rate(tmp_path, monkeypatch):
    seen = []
    plain = training.optimiser

    def spy(model, preset, recipe, lr=None):
        adam = plain(model, preset, recipe, lr)
        seen.append(adam.defaults["lr"])
        return adam

    monkeypatch.setattr(training, "optimiser", spy)
    spec = RunSpec("random-roi", "segresnet:lr=0.0005", "spheres", preset="tiny")
    record, _ = Pipeline(tmp_path, device="cpu", progress=False).run(spec)
    assert seen == [0.0005, 0.0005]  # the clean-trained and the protected-trained victim
    assert record["victim"]["lr"] == 0.0005
    assert re.fullmatch(r"random-roi-segresnet-[0-9a-f]{10}", spec.run_id())  # a file name anywhere
    assert spec.run_id() != RunSpec("random-roi", "segresnet", "spheres", preset="tiny").run_id()
