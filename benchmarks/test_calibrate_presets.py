"""The calibration script end to end on a CPU, on a tiny override of a candidate: it writes
calibration.json with DSCs, run times and verdicts, and a rerun runs nothing; a deadline stops
the sweep and still leaves the summary."""

import json
import tarfile

import pytest

from benchmarks.calibrate_presets import CANDIDATES, main
from uebench.contracts import registry


@pytest.fixture
def presets_restored():
    """The presets as they were before the test: the script registers its candidates."""
    saved = registry.presets.snapshot()
    yield
    registry.presets.restore(saved)


@pytest.mark.slow
def test_calibration_writes_the_summary_then_resumes_without_running(tmp_path, monkeypatch,
                                                                     presets_restored):
    monkeypatch.setenv("UEBENCH_CACHE", str(tmp_path / "datasets"))
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--out", str(out), "--work", str(work), "--candidate", "gpu-96", "--victim", "unet",
            "--seeds", "1", "--size", "32", "--epochs", "1", "--split", "2", "1", "2",
            "--device", "cpu", "--workers", "1", "--threads", "1", "--deadline", "120"]
    assert main(argv) == 0
    first = json.loads((out / "calibration.json").read_text())
    assert first["runs"] == {"planned": 1, "recorded_before": 0, "landed_now": 1}
    assert first["sweep"]["returncode"] == 0
    name = "gpu-96-size32-epochs1-split2.1.2"
    assert registry.presets.get(name).volume_size == 32
    assert "gpu-96" not in registry.presets.names()
    candidate = first["candidates"][name]
    assert candidate["preset"]["victim_scale"] == CANDIDATES[0].victim_scale == "reference"
    unet = candidate["victims"]["unet"]
    seed = unet["seeds"]["0"]
    assert set(seed["dsc"]) == {"necrotic_core", "oedema", "enhancing"}
    assert all(0.0 <= v <= 1.0 for v in [*seed["dsc"].values(), seed["dsc_fg_mean"]])
    assert unet["dsc"] == seed["dsc"] and seed["wall_seconds"] > 0
    assert unet["median_wall_seconds"] == seed["wall_seconds"] and seed["device"].startswith("cpu")
    assert set(candidate["verdict"]) == {"clears_bar", "slowest_median_wall_seconds",
                                         "within_minutes_per_run", "complete", "pass"}
    assert candidate["verdict"]["complete"] and candidate["verdict"]["within_minutes_per_run"]
    assert isinstance(candidate["verdict"]["clears_bar"], bool)
    with tarfile.open(out / "calibration-records.tar.gz") as tar:
        assert tar.getnames() == [f"calibration/{seed['run_id']}.json"]
    record = work / "records" / f"{seed['run_id']}.json"
    landed = record.stat().st_mtime_ns

    assert main(argv) == 0
    again = json.loads((out / "calibration.json").read_text())
    assert again["runs"] == {"planned": 1, "recorded_before": 1, "landed_now": 0}
    assert again["sweep"] is None and record.stat().st_mtime_ns == landed
    assert again["candidates"][name]["victims"]["unet"]["seeds"] == unet["seeds"]


def test_a_deadline_stops_the_sweep_and_leaves_the_summary(tmp_path, monkeypatch,
                                                           presets_restored):
    monkeypatch.setenv("UEBENCH_CACHE", str(tmp_path / "datasets"))
    out = tmp_path / "out"
    # 21 s leave the sweep 1 s (20 are kept for stopping it and writing the summary)
    assert main(["--out", str(out), "--work", str(tmp_path / "work"), "--candidate",
                 "gpu-128", "--victim", "unet", "--seeds", "1", "--size", "32", "--device",
                 "cpu", "--workers", "1", "--deadline", "21"]) == 0
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["sweep"]["returncode"] == "stopped at deadline"
    assert summary["runs"] == {"planned": 1, "recorded_before": 0, "landed_now": 0}
    verdict = summary["candidates"]["gpu-128-size32"]["verdict"]
    assert verdict == {"clears_bar": None, "slowest_median_wall_seconds": None,
                       "within_minutes_per_run": None, "complete": False, "pass": False}
