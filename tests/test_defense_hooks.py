"""The attacker's capabilities are hooks of ``Defense`` that the runner calls on every defense
of a run: a new capability is one class (no line of the pipeline), and the pipeline names no
defense."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import uebench.runner.pipeline as pipeline_module
from uebench.contracts import registry
from uebench.contracts.core import Defense
from uebench.runner.defense_chain import NONE, DefenseChain, TrainingDefense
from uebench.runner.pipeline import Pipeline, RunSpec, resolve


@pytest.fixture
def scratch():
    """Defenses a test registers are gone after it."""
    saved = registry.defenses.snapshot()
    yield
    registry.defenses.restore(saved)


def test_the_pipeline_names_no_defense():
    source = Path(pipeline_module.__file__).read_text()
    for name in registry.defenses.names():  # the attacker's pipeline (defenses/attacker.py) too
        if name != NONE:
            assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", source), name
    for special in ("grid_factor", "pretrain_cohort", "early_stopping", "reads_files",
                    "reread", "reader_view", "NiftiFolder", "_pretrained", "_check_regrid"):
        assert special not in source, special
    for attribute in ("grid_factor", "pretrain_cohort", "early_stopping", "reads_files",
                      "reread_within_eps"):
        assert not hasattr(Defense, attribute), attribute  # hooks instead


def test_the_chain_calls_each_hook_on_every_defense_in_order(scratch):
    calls = []

    @registry.register_defense("test-read-a")
    class ReadA(Defense):
        def check(self, setup):
            calls.append(("check", self.name, setup))

        def read(self, released, case, ctx):
            calls.append(("read", self.name, ctx))
            return released * 2

        def grid(self, setup):
            return (0.5, 1)

        def apply(self, image, label, rng):
            return image, label

    @registry.register_defense("test-read-b")
    class ReadB(TrainingDefense):
        def read(self, released, case, ctx):
            return released + 1

        def grid(self, setup):
            return (2.0, 1)

        def batch_loss(self, model, x, y, loss_fn):
            return loss_fn(model, x, y)

    chain = DefenseChain("test-read-a+test-read-b")
    chain.check("setup")
    assert calls == [("check", "test-read-a", "setup")]
    assert chain.read(np.ones(2), None, "ctx").tolist() == [3.0, 3.0]  # a, then b
    assert calls[-1] == ("read", "test-read-a", "ctx")
    assert chain.grid(None) == (0.5, 1)  # the first defense that gives one
    assert chain.initial_weights(None, None) is None and chain.validation(None) is None
    assert chain.clean_cases(["a", "b"], 0) == set() and not chain.early_stopping
    none = DefenseChain()  # no defense: every hook does nothing
    assert none.read(np.ones(2), None, None).tolist() == [1.0, 1.0] and none.grid(None) is None


def test_a_defense_checks_itself_before_any_work(scratch, tmp_path):
    @registry.register_defense("test-needs-epochs")
    class NeedsEpochs(Defense):
        def check(self, setup):
            if setup.preset.epochs < 3:
                raise ValueError(f"defense 'test-needs-epochs' needs 3 epochs; preset "
                                 f"{setup.preset.name!r} on {setup.dataset_name!r} has "
                                 f"{setup.preset.epochs}")

        def apply(self, image, label, rng):
            return image, label

    spec = RunSpec(method="random", victim="unet", dataset="spheres", preset="tiny",
                   defense="test-needs-epochs")
    with pytest.raises(ValueError, match="needs 3 epochs; preset 'tiny' on 'spheres' has 2"):
        resolve(spec)
    with pytest.raises(ValueError, match="needs 3 epochs"):
        Pipeline(tmp_path / "run", device="cpu", progress=False).run(spec)
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_a_training_time_capability_is_one_class(scratch, tmp_path, monkeypatch):
    """A third-party capability (here: the attacker starts from the victim's seeded initial
    weights halved) is one registered class with one hook; the pipeline runs it, keys the
    victim by it and records what it adds, and the clean-trained victim never sees it."""

    @registry.register_defense("test-halved-start")
    class HalvedStart(TrainingDefense):
        summary = "the victim starts from its seeded initial weights halved"

        def initial_weights(self, model, ctx):
            ctx.record["halved_start"] = ctx.seed
            return {k: v * 0.5 if v.is_floating_point() else v
                    for k, v in model.state_dict().items()}

        def batch_loss(self, model, x, y, loss_fn):
            return loss_fn(model, x, y)

    starts = []
    real = pipeline_module.train_segmenter

    def spy(model, *args, **kwargs):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return real(model, *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "train_segmenter", spy)
    record, _ = Pipeline(tmp_path / "run", device="cpu", progress=False).run(
        RunSpec(method="random-roi", victim="unet", dataset="spheres", preset="tiny",
                epsilon=8 / 255, seed=3, defense="test-halved-start"))
    assert record["spec"]["defense"] == "test-halved-start"
    clean, defended = starts  # the clean-trained reference, then the attacker's victim
    assert set(clean) == set(defended)
    for name, value in clean.items():
        expected = value * 0.5 if value.is_floating_point() else value
        torch.testing.assert_close(defended[name], expected)
    trained = record["throughput"]["victim_training"]
    assert trained["protected"]["halved_start"] == 3
    assert "halved_start" not in trained["clean"]
    assert record["efficacy"]["protected_trained"]["dsc_fg_mean"] is not None
