"""A sweep step's records (``benchmarks/step_records.py``): only the runs that the step's own
arguments name leave the shared output folder, budgets compared as the sweep parses them, the
sweep's defaults for preset and defense, and a record already on the board left alone."""

import json

import pytest

from benchmarks.step_records import copy_step_records, main, selects
from uebench.cli import parse_epsilon

STEP = ["--victim", "unet", "--method", "rem", "--method", "voxshield:lambda_z=0", "--seed", "2",
        "--eps", "32/255", "--preset", "canary-v48", "--defense", "none", "--defense", "ueraser"]


def _spec(**changes) -> dict:
    spec = {"method": "rem", "victim": "unet", "seed": 2, "epsilon": parse_epsilon("32/255"),
            "preset": "canary-v48", "defense": "ueraser"}
    return {**spec, **changes}


def test_selects_the_step_runs_only():
    assert selects(_spec(), STEP)
    assert selects(_spec(method="voxshield"), STEP)  # a method's parameters leave its name
    for other in (dict(method="em"), dict(victim="swinunetr"), dict(seed=1),
                  dict(epsilon=parse_epsilon("4/255")), dict(preset="quick"),
                  dict(defense="regrid")):
        assert not selects(_spec(**other), STEP), other


def test_budget_compared_as_the_sweep_parses_it():
    assert selects(_spec(epsilon=parse_epsilon("0.12549019607843137")), STEP)
    assert not selects(_spec(epsilon=0.1255), STEP)


def test_sweep_defaults_and_any():
    bare = ["--victim", "unet"]
    assert selects(_spec(preset="quick", defense="none", seed=7, method="em"), bare)
    assert not selects(_spec(preset="canary-v48", defense="none"), bare)
    assert not selects(_spec(preset="quick", defense="gaussian"), bare)
    assert not selects(_spec(preset="quick", defense="none"), ["--method", "rem"])  # no victim


def _write(folder, name, spec):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"spec": spec}))


def test_copy_leaves_other_runs_and_existing_records(tmp_path):
    source, dest = tmp_path / "runs", tmp_path / "board"
    _write(source, "mine.json", _spec())
    _write(source, "other-budget.json", _spec(epsilon=parse_epsilon("4/255")))
    _write(source, "already.json", _spec(defense="none"))
    _write(dest, "already.json", {"kept": True})
    copied = copy_step_records(source, dest, STEP)
    assert [p.name for p in copied] == ["mine.json"]
    assert sorted(p.name for p in dest.iterdir()) == ["already.json", "mine.json"]
    assert json.loads((dest / "already.json").read_text()) == {"spec": {"kept": True}}


def test_main_copies_and_rejects_a_missing_source(tmp_path, capsys):
    _write(tmp_path / "runs", "mine.json", _spec())
    assert main([str(tmp_path / "runs"), str(tmp_path / "board"), *STEP]) == 0
    assert "1 record(s) copied" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nowhere"), str(tmp_path / "board")])
