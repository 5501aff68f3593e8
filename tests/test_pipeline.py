import json

import numpy as np
import pytest

from uebench.results.leaderboard import render
from uebench.runner.pipeline import Pipeline, RunSpec


@pytest.fixture
def pipeline(tmp_path):
    return Pipeline(tmp_path / "runs", cache_root=tmp_path / "cache", device="cpu",
                    progress=False)


def test_run_writes_a_complete_record_and_reuses_the_clean_victim(pipeline, tmp_path):
    record, path = pipeline.run(RunSpec("random-roi", "unet", "spheres", preset="tiny"))
    assert path.exists() and json.loads(path.read_text())["run_id"] == record["run_id"]
    assert record["schema_version"] == 1
    assert record["method"]["params"] == {} and record["method"]["norm"] == "linf"
    assert record["method"]["role"] == "matched-control"  # declared by RandomNoiseROI
    assert record["environment"]["packages"]["monai"]
    efficacy = record["efficacy"]
    for side in ("clean_trained", "protected_trained"):
        assert 0 <= efficacy[side]["dsc_fg_mean"] <= 1
        assert set(efficacy[side]["dsc"]) == {"class1", "class2", "class3"}
    fidelity = record["fidelity"]
    assert fidelity["linf"] <= 4 / 255 + 1e-6
    assert fidelity["psnr_roi"] < fidelity["psnr_whole"]
    assert record["throughput"]["protect"]["volumes_per_second"] > 0
    assert record["timings"]["cached_stages"] == []

    second, _ = pipeline.run(RunSpec("random", "unet", "spheres", preset="tiny"))
    assert "clean_victim" in second["timings"]["cached_stages"]
    clean_dsc = efficacy["clean_trained"]["dsc_fg_mean"]
    assert second["efficacy"]["clean_trained"]["dsc_fg_mean"] == clean_dsc

    again, _ = pipeline.run(RunSpec("random-roi", "unet", "spheres", preset="tiny"))
    assert set(again["timings"]["cached_stages"]) == {"protect", "clean_victim", "protected_victim"}


def test_clean_method_shares_the_reference_victim(pipeline):
    record, _ = pipeline.run(RunSpec("clean", "unet", "spheres", preset="tiny"))
    assert record["efficacy"]["dsc_drop"]["dsc_fg_mean"] == 0
    assert record["fidelity"]["linf"] == 0 and record["fidelity"]["psnr_whole"] is None


def test_defense_changes_the_training_set(pipeline):
    plain, _ = pipeline.run(RunSpec("random", "unet", "spheres", preset="tiny"))
    smoothed, _ = pipeline.run(RunSpec("random", "unet", "spheres", defense="slice-shuffle",
                                       preset="tiny"))
    assert "protected_victim" not in smoothed["timings"]["cached_stages"]
    assert "protect" in smoothed["timings"]["cached_stages"]
    assert smoothed["run_id"] != plain["run_id"]


def test_leaderboard_renders_records(pipeline, tmp_path):
    pipeline.run(RunSpec("random-roi", "unet", "spheres", preset="tiny"))
    written = render(tmp_path / "runs" / "records", tmp_path / "boards")
    names = sorted(p.name for p in written)
    assert names == sorted(f"{table}.{ext}" for ext in ("csv", "md") for table in
                           ("curves", "eps50", "efficacy", "fidelity", "grid", "throughput"))
    text = (tmp_path / "boards" / "efficacy.md").read_text()
    assert "random-roi" in text and "4/255" in text and "nnU-Net" in text


def test_crash_leaves_no_record(pipeline, tmp_path, monkeypatch):
    from uebench.runner import pipeline as module

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "evaluate", explode)
    with pytest.raises(RuntimeError):
        pipeline.run(RunSpec("random", "unet", "spheres", preset="tiny"))
    assert not list((tmp_path / "runs").glob("records/*.json"))
    # the finished protection stage survives the crash and is reused
    assert list((tmp_path / "cache" / "protect").glob("*.npz"))
    np.testing.assert_equal(len(list((tmp_path / "cache" / "protect").glob("*.json"))), 1)


def test_victim_cache_follows_the_architecture(pipeline, monkeypatch):
    first, _ = pipeline.run(RunSpec("random", "unet", "spheres", preset="tiny"))
    from monai.networks.nets import UNet

    from uebench.contracts import registry

    victim = registry.victims.get("unet")
    monkeypatch.setattr(victim, "build", lambda self, c, k, preset: UNet(
        3, c, k, channels=(8, 16), strides=(2,), num_res_units=1))
    second, _ = pipeline.run(RunSpec("random", "unet", "spheres", preset="tiny"))
    assert "clean_victim" not in second["timings"]["cached_stages"]
    assert "protect" in second["timings"]["cached_stages"]


def test_leaderboard_keeps_parameter_overrides_apart():
    from uebench.results.leaderboard import tables
    from uebench.results.records import method_label

    def spec(**params):
        return {"spec": {"method": "voxshield", "method_params": params}}

    assert method_label(spec()) == "voxshield"
    assert method_label(spec(s_steps=40, roi="soft")) == "voxshield[roi=soft,s_steps=40]"
    assert tables([]) == {}  # no records: no tables


def test_l0_method_is_held_to_its_own_budget_in_the_record_and_the_leaderboard(pipeline,
                                                                              tmp_path):
    record, _ = pipeline.run(RunSpec("ops", "unet", "spheres", preset="tiny"))
    budget = record["method"]["budget"]
    assert budget == {"norm": "l0", "max_fraction": 4 / 8**3, "storage": "float32"}
    assert record["method"]["shortcut"], "the searched shortcut is recorded"
    fidelity = record["fidelity"]
    assert 0 < fidelity["l0_fraction"] <= budget["max_fraction"]
    assert fidelity["linf"] > 4 / 255  # OPS is not L-inf bounded
    assert record["fidelity"]["budget"] == budget
    render(tmp_path / "runs" / "records", tmp_path / "boards")
    assert "L0 0.78%" in (tmp_path / "boards" / "efficacy.md").read_text()
    again, _ = pipeline.run(RunSpec("ops", "unet", "spheres", preset="tiny"))
    assert "protect" in again["timings"]["cached_stages"]
    assert again["method"] == record["method"]  # the fitted shortcut survives the cache
