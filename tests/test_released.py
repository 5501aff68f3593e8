"""`uebench run --train-data PROTECTED --test-data CLEAN`: a custodian measures their own
release, written by `uebench protect`, with a victim trained on it and tested on clean data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from decathlon_folders import msd_folder

from uebench.cli import main

EPS = "8/255"


@pytest.fixture
def release(tmp_path) -> tuple[Path, Path]:
    clean = msd_folder(tmp_path / "clean", n=6)
    protected = tmp_path / "protected"
    result = CliRunner().invoke(main, ["protect", "--method", "random-roi", "--data", str(clean),
                                       "--out", str(protected), "--eps", EPS, "--preset", "tiny",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    return clean, protected


def run(tmp_path: Path, *args: str):
    return CliRunner().invoke(main, ["run", "--victim", "unet", "--preset", "tiny", "--quiet",
                                     "--device", "cpu", "--out", str(tmp_path / "runs"), *args])


@pytest.mark.slow
def test_a_release_trains_the_victim_and_the_clean_folder_tests_it(tmp_path, release):
    clean, protected = release
    result = run(tmp_path, "--train-data", f"decathlon:{protected}",
                 "--test-data", f"decathlon:{clean}", "--eps", EPS)
    assert result.exit_code == 0, result.output
    record = json.loads(next((tmp_path / "runs" / "records").glob("*.json")).read_text())
    assert record["spec"]["method"] == "released"
    assert record["spec"]["method_params"] == {"data": f"decathlon:{protected}"}
    # the release's own delta, read back from disk and resampled to the preset's grid
    # (interpolation averages the noise down): random-roi at 8/255, foreground only
    assert 2 / 255 < record["fidelity"]["linf"] <= 8 / 255 + 1e-6
    assert 0 < record["fidelity"]["l0_fraction"] < 0.5
    assert record["dataset"]["spec"] == f"decathlon:{clean}"
    same = run(tmp_path, "--method", "clean", "--dataset", f"decathlon:{clean}")
    assert same.exit_code == 0, same.output
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "records").glob("*.json")]
    references = {r["efficacy"]["clean_trained"]["dsc_fg_mean"] for r in records}
    assert len(references) == 1  # the same clean-trained reference as an ordinary run


def test_a_budget_below_the_release_is_refused(tmp_path, release):
    clean, protected = release
    result = run(tmp_path, "--train-data", f"decathlon:{protected}",
                 "--test-data", f"decathlon:{clean}", "--eps", "2/255")
    assert result.exit_code == 2 and "exceeds the budget" in result.output


def test_train_and_test_data_go_together_and_exclude_a_method(tmp_path):
    assert "go together" in run(tmp_path, "--train-data", "decathlon:x").output
    result = run(tmp_path, "--train-data", "decathlon:x", "--test-data", "decathlon:y",
                 "--method", "em")
    assert result.exit_code == 2 and "no --method" in result.output
    assert "Missing option '--method'" in run(tmp_path).output


def test_a_release_missing_cases_names_them(tmp_path, release):
    clean, protected = release
    meta = json.loads((protected / "dataset.json").read_text())
    for entry in meta["training"][:3]:  # at least one of them is in the training split
        (protected / entry["image"]).unlink()
        (protected / entry["label"]).unlink()
    meta["training"], meta["numTraining"] = meta["training"][3:], 3
    (protected / "dataset.json").write_text(json.dumps(meta))
    result = run(tmp_path, "--train-data", f"decathlon:{protected}",
                 "--test-data", f"decathlon:{clean}", "--eps", EPS)
    assert result.exit_code == 2 and "has no case case_00" in result.output
