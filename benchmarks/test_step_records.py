"""A sweep step's records (``benchmarks/step_records.py``): only the runs that the step's own
``uebench sweep`` arguments plan leave the shared output folder (a method's parameters, the
sweep's defaults and its budget parsing included), and a record already on the board is left
alone."""

import json
from dataclasses import asdict, replace

import pytest

from benchmarks.step_records import copy_step_records, main
from uebench.cli import parse_epsilon
from uebench.runner.pipeline import RunSpec

STEP = ["--victim", "unet", "--method", "rem", "--method", "voxshield:lambda_z=0", "--seed", "2",
        "--eps", "32/255", "--preset", "canary-v48", "--defense", "none", "--defense", "ueraser"]
MINE = RunSpec(method="rem", victim="unet", seed=2, epsilon=parse_epsilon("32/255"),
               preset="canary-v48", defense="ueraser")


def _write(folder, spec: RunSpec, name: str | None = None) -> str:
    """A record of ``spec`` in ``folder`` under its run id (or ``name``); the file's name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or f"{spec.run_id()}.json"
    (folder / name).write_text(json.dumps({"run_id": spec.run_id(), "spec": asdict(spec)}))
    return name


def _copied(tmp_path, specs: list[RunSpec], args: list[str]) -> list[str]:
    for spec in specs:
        _write(tmp_path / "runs", spec)
    return sorted(p.name for p in copy_step_records(tmp_path / "runs", tmp_path / "board", args))


def test_copies_the_step_runs_only(tmp_path):
    # lambda_z=0 as the sweep parses it (an int): its params are in the run id
    ablation = replace(MINE, method="voxshield", method_params={"lambda_z": 0})
    others = [replace(MINE, **change) for change in (
        dict(method="em"), dict(victim="swinunetr"), dict(seed=1), dict(preset="quick"),
        dict(epsilon=parse_epsilon("4/255")), dict(defense="regrid"),
        dict(method="voxshield"))]  # voxshield as defined is not the step's lambda_z=0 run
    assert _copied(tmp_path, [MINE, ablation, *others], STEP) == sorted(
        [f"{MINE.run_id()}.json", f"{ablation.run_id()}.json"])


def test_sweep_defaults_and_budget_parsing(tmp_path):
    default = RunSpec(method="rem", victim="unet")  # quick, 4/255, seed 0, no defense
    as_decimal = replace(MINE, epsilon=parse_epsilon("0.12549019607843137"))
    near = replace(MINE, epsilon=0.1255)
    assert _copied(tmp_path, [default, replace(default, seed=7)],
                   ["--victim", "unet", "--method", "rem"]) == [f"{default.run_id()}.json"]
    assert as_decimal.run_id() == MINE.run_id()  # 32/255 written as a decimal: the same run
    assert near.run_id() not in {s.run_id() for s in (MINE, as_decimal)}


def test_copy_leaves_existing_records(tmp_path):
    source, dest = tmp_path / "runs", tmp_path / "board"
    name = _write(source, MINE)
    dest.mkdir()
    (dest / name).write_text(json.dumps({"kept": True}))
    assert copy_step_records(source, dest, STEP) == []
    assert json.loads((dest / name).read_text()) == {"kept": True}


def test_main_copies_and_rejects_bad_input(tmp_path, capsys):
    _write(tmp_path / "runs", MINE)
    assert main([str(tmp_path / "runs"), str(tmp_path / "board"), *STEP]) == 0
    assert "1 record(s) copied" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nowhere"), str(tmp_path / "board")])
    with pytest.raises(SystemExit):  # no --victim: the sweep would refuse it too
        main([str(tmp_path / "runs"), str(tmp_path / "board"), "--method", "rem"])
    assert "victims" in capsys.readouterr().err
