"""`uebench leaderboard --add` admits only records the boards can hold: same protocol, kind of
device and dataset / preset, made from committed code; it says why it refuses the rest."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from test_curves import record

from uebench.cli import main

CPU = {"device": "cpu (2 threads, x86_64)", "git_commit": "a" * 40, "git_dirty": False}


def made(method: str, seed: int, **environment) -> dict:
    rng = np.random.default_rng(seed)
    r = record(method, 4 / 255, seed, list(0.8 + rng.normal(0, 0.01, 16)),
               list(0.9 + rng.normal(0, 0.01, 16)))
    r["environment"] = {**CPU, **environment}
    return r


def add(tmp_path, incoming: dict, *flags: str):
    board = tmp_path / "records"
    if not board.exists():
        board.mkdir()
        (board / "base.json").write_text(json.dumps(made("random-roi", 0)))
    path = tmp_path / f"in-{incoming['run_id']}.json"
    path.write_text(json.dumps(incoming))
    return CliRunner().invoke(main, ["leaderboard", "--records", str(board), "--add", str(path),
                                     "--out", str(tmp_path / "boards"), *flags])


def test_a_committed_record_of_the_boards_dataset_is_added(tmp_path):
    result = add(tmp_path, made("em", 1))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "records" / "in-em-0.0157-1.json").exists()


def test_uncommitted_code_is_refused_unless_allowed(tmp_path):
    result = add(tmp_path, made("em", 1, git_dirty=True))
    assert result.exit_code == 2 and "uncommitted changes" in result.output
    assert len(list((tmp_path / "records").glob("*.json"))) == 1
    assert add(tmp_path, made("em", 1, git_dirty=True), "--allow-dirty").exit_code == 0


def test_no_git_commit_is_refused_even_with_allow_dirty(tmp_path):
    result = add(tmp_path, made("em", 1, git_commit=None), "--allow-dirty")
    assert result.exit_code == 2 and "no git commit" in result.output


def test_another_dataset_is_refused_unless_new_dataset(tmp_path):
    other = made("em", 1)
    other["dataset"]["label"] = "abdomen-phantom"
    result = add(tmp_path, other)
    assert result.exit_code == 2
    assert "abdomen-phantom at preset tiny is not on these boards" in result.output
    assert "spheres/tiny" in result.output
    assert add(tmp_path, other, "--new-dataset").exit_code == 0


def test_a_gpu_record_is_refused_by_cpu_boards(tmp_path):
    result = add(tmp_path, made("em", 1, device="NVIDIA H100 80GB HBM3"))
    assert result.exit_code == 2 and "trained on cuda" in result.output


def test_a_missing_records_folder_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["leaderboard", "--records", str(tmp_path / "none"),
                                       "--out", str(tmp_path / "boards")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "none").exists() and not (tmp_path / "boards").exists()


def test_a_file_that_is_not_a_record_is_refused_by_name(tmp_path):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "base.json").write_text(json.dumps(made("random-roi", 0)))
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"spec": {}}))
    result = CliRunner().invoke(main, ["leaderboard", "--records", str(tmp_path / "records"),
                                       "--add", str(stray), "--out", str(tmp_path / "boards")])
    assert result.exit_code == 2 and f"{stray}: not a uebench run record" in result.output
