"""The attacker's pipeline as defenses: partial protection keeps a seeded share of the
training cases clean, early stopping keeps the best epoch on the clean validation split, and
pretraining starts the victim from weights trained on a disjoint clean cohort, and regrid
trains and predicts at another grid than the protected one; all are
defenses (combinable, in the cache key) and each run's record says what it did."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uebench.contracts import registry
from uebench.runner.defense_chain import DefenseChain, at_fractions, canonical_defense
from uebench.runner.pipeline import Pipeline, RunSpec
from uebench.runner.training import train_segmenter


def test_partial_keeps_a_seeded_share_clean_whatever_the_order():
    partial = registry.defenses.get("partial")(fraction=0.2)
    ids = [f"case-{i}" for i in range(10)]
    kept = partial.clean_cases(ids, seed=3)
    assert len(kept) == 8 and kept <= set(ids)
    assert partial.clean_cases(list(reversed(ids)), seed=3) == kept
    assert partial.clean_cases(ids, seed=4) != kept
    assert registry.defenses.get("partial")(fraction=1.0).clean_cases(ids, 0) == set()
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\]"):
        registry.defenses.get("partial")(fraction=1.5)


def test_protected_fractions_are_columns_of_each_defense():
    assert at_fractions(["none", "gaussian"], [0.2, 1.0]) == [
        "partial:fraction=0.2", "none", "gaussian+partial:fraction=0.2", "gaussian"]
    assert canonical_defense("partial:fraction=0.5") == "partial"  # the default
    assert DefenseChain("partial:fraction=0.2+early-stop").early_stopping
    assert not DefenseChain("partial:fraction=0.2").early_stopping


def test_early_stopping_keeps_the_best_epoch_s_weights():
    preset = registry.presets.get("tiny")
    images = np.random.default_rng(0).random((2, 1, 8, 8, 8), dtype=np.float32)
    labels = (images[:, 0] > 0.5).astype(np.uint8)
    for scores, best in (([0.2, 0.9], 2), ([0.9, 0.2], 1)):
        torch.manual_seed(0)
        model = torch.nn.Conv3d(1, 2, 1)
        seen = []

        def validate(m, scores=scores, seen=seen):
            seen.append({k: v.clone() for k, v in m.state_dict().items()})
            return scores[len(seen) - 1]

        out = train_segmenter(model, images, labels, preset, 0, torch.device("cpu"),
                              progress=False, validate=validate)
        assert out["val_dsc"] == scores and out["best_epoch"] == best
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, seen[best - 1][name])
        assert not torch.equal(seen[0]["weight"], seen[1]["weight"])  # epochs differ


@pytest.mark.slow
def test_a_run_under_partial_protection_and_early_stopping_records_both(tmp_path):
    spec = RunSpec(method="random-roi", victim="unet", dataset="spheres", preset="tiny",
                   epsilon=8 / 255, defense="partial:fraction=0.2+early-stop")
    record, _ = Pipeline(tmp_path / "run", device="cpu", progress=False).run(spec)
    trained = record["throughput"]["victim_training"]["protected"]
    assert len(trained["kept_clean"]) == round(0.8 * record["dataset"]["split"]["train"])
    assert len(trained["val_dsc"]) == registry.presets.get("tiny").epochs
    assert 1 <= trained["best_epoch"] <= len(trained["val_dsc"])
    assert "kept_clean" not in record["throughput"]["victim_training"]["clean"]


@pytest.mark.slow
def test_pretraining_uses_another_cohort_and_is_cached(tmp_path, monkeypatch):
    import uebench.runner.pipeline as pipeline_module

    trained_on = []
    real = pipeline_module.train_segmenter

    def spy(model, images, labels, *args, **kwargs):
        trained_on.append(np.asarray(images).sum())
        return real(model, images, labels, *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "train_segmenter", spy)
    pipeline = Pipeline(tmp_path / "run", device="cpu", progress=False)
    spec = RunSpec(method="random", victim="unet", dataset="spheres", preset="tiny",
                   epsilon=8 / 255, defense="pretrained")
    record, _ = pipeline.run(spec)
    assert record["throughput"]["victim_training"]["protected"]["pretrained_on_cohort"] == 1
    assert len(trained_on) == 3  # clean victim, the cohort's pretraining, the fine-tuning
    assert trained_on[1] != trained_on[0]  # another cohort of subjects
    assert len(list((tmp_path / "run" / "cache" / "pretrained").glob("*.npz"))) == 1
    pipeline.run(RunSpec(method="clean", victim="unet", dataset="spheres", preset="tiny",
                         defense="pretrained"))
    assert len(trained_on) == 4  # only the fine-tuning: the pretrained weights were cached
    with pytest.raises(ValueError, match="cohort 0 is the run's own data"):
        DefenseChain("pretrained:cohort=0")


def test_pretraining_refuses_a_local_folder(tmp_path):
    from tests.decathlon_folders import msd_folder
    from uebench.runner.pipeline import resolve

    folder = msd_folder(tmp_path / "toy", n=3)
    with pytest.raises(ValueError, match="'pretrained' needs a generated dataset"):
        resolve(RunSpec(method="random", victim="unet", dataset=f"decathlon:{folder}",
                        preset="tiny", defense="pretrained"))


@pytest.mark.slow
def test_regrid_trains_and_predicts_at_the_attacker_s_grid(tmp_path, monkeypatch):
    import uebench.runner.pipeline as pipeline_module

    shapes = []
    real = pipeline_module.train_segmenter

    def spy(model, images, labels, *args, **kwargs):
        shapes.append(np.asarray(images).shape[2:])
        return real(model, images, labels, *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "train_segmenter", spy)
    record, _ = Pipeline(tmp_path / "run", device="cpu", progress=False).run(
        RunSpec(method="random", victim="unet", dataset="spheres", preset="tiny",
                epsilon=8 / 255, defense="regrid:factor=1.5"))
    assert shapes == [(32, 32, 32), (48, 48, 48)]  # clean victim as is; the attacker at 1.5x
    protected = record["efficacy"]["protected_trained"]
    assert protected["n_cases"] == record["dataset"]["split"]["test"]  # scored per test case
    assert protected["dsc_fg_mean"] is not None


def test_regrid_shapes_follow_the_victim_s_size_rule():
    from uebench.runner.evaluation import regrid_shape, resample

    assert regrid_shape((64, 64, 64), 0.75, 16) == (48, 48, 48)
    assert regrid_shape((64, 64, 64), 1.5, 16) == (96, 96, 96)
    assert regrid_shape((95, 117, 99), 0.75) == (71, 88, 74)
    label = np.zeros((1, 8, 8, 8), np.float32)
    label[0, 2:6, 2:6, 2:6] = 2
    back = resample(resample(label, (16, 16, 16), "nearest"), (8, 8, 8), "nearest")
    np.testing.assert_array_equal(back, label)  # nearest up and back keeps the labels
    with pytest.raises(ValueError, match="factor must be > 0"):
        DefenseChain("regrid:factor=0.0")


def test_a_regrid_that_rounds_back_to_the_protection_cube_is_refused():
    from uebench.runner.pipeline import resolve

    with pytest.raises(ValueError, match="leaves the 32\\^3 cube as it is"):
        resolve(RunSpec(method="random", victim="unet", dataset="spheres", preset="canary",
                        defense="regrid"))  # 0.75: 24 rounds to 32 (multiples of 16)
    resolve(RunSpec(method="random", victim="unet", dataset="spheres", preset="canary",
                    defense="regrid:factor=0.5"))  # 16: another grid, accepted


@pytest.mark.slow
@pytest.mark.parametrize("budget", [False, True])
def test_renormalise_trains_the_attacker_on_the_reader_s_view(tmp_path, monkeypatch, budget):
    import uebench.defenses.attacker as attacker_module
    import uebench.runner.pipeline as pipeline_module
    from uebench.runner.reader_view import reread, reread_within

    trained_on, reads = [], []
    real_train = pipeline_module.train_segmenter

    def train_spy(model, images, labels, *args, **kwargs):
        trained_on.append(np.asarray(images).copy())
        return real_train(model, images, labels, *args, **kwargs)

    def spy(real):
        def read(protected, clean, zscored, *rest):
            reads.append((protected.copy(), clean.copy(), list(zscored), rest))
            return real(protected, clean, zscored, *rest)
        return read

    monkeypatch.setattr(pipeline_module, "train_segmenter", train_spy)
    monkeypatch.setattr(attacker_module, "reread", spy(reread))  # the renormalise defense's
    monkeypatch.setattr(attacker_module, "reread_within", spy(reread_within))
    defense = "renormalise:budget=True" if budget else "renormalise"
    record, _ = Pipeline(tmp_path / "run", device="cpu", progress=False).run(
        RunSpec(method="random-roi", victim="unet", dataset="spheres", preset="tiny",
                epsilon=8 / 255, defense=defense))
    assert record["spec"]["defense"] == defense
    clean, defended = trained_on  # the clean victim's set is not reread
    assert len(reads) == len(defended) == len(clean)
    for (protected, original, zscored, rest), read, clean_case in zip(reads, defended, clean):
        np.testing.assert_array_equal(original, clean_case)  # the clean volume's own zeros
        assert zscored == [True]  # spheres' one channel is not CT
        assert 0 < np.abs(protected - original).max() <= 8 / 255 + 1e-6  # the release
        assert rest == ((8 / 255,) if budget else ())
        expected = (reread_within(protected, original, zscored, 8 / 255)[0] if budget
                    else reread(protected, original, zscored))
        np.testing.assert_array_equal(read, expected)
    shrink = record["throughput"]["victim_training"]["protected"].get("reread_shrink")
    if budget:
        assert 0 < shrink[0] <= shrink[1] <= 1.0
    else:
        assert shrink is None


def test_renormalise_refuses_a_ct_dataset():
    from uebench.runner.pipeline import resolve

    with pytest.raises(ValueError, match="'renormalise' models a reader that z-scores"):
        resolve(RunSpec(method="random", victim="unet", dataset="abdomen-phantom",
                        preset="tiny", defense="renormalise"))
