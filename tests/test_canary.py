"""The regression canary (``make canary``): its preset, its committed baseline records and the
comparison it runs, checked without training anything."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest

from benchmarks.run_canary import (
    BASELINE,
    CROSS_CPU,
    GRID,
    THREADS,
    baseline_for,
    slug,
    sweep_command,
)
from uebench.contracts.presets import get_preset
from uebench.results.compare import Tolerances, compare, render, spec_key
from uebench.results.records import REFERENCE_MIN_CLASS_DSC, REFERENCE_MIN_FG_DSC, budget_label

MAKEFILE = Path(__file__).parents[1] / "Makefile"


BASELINES = sorted(p for p in BASELINE.iterdir() if p.is_dir())
ARCHIVED = BASELINE.parent / "archive" / "protocol-2"


def baseline_records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def make_tolerances() -> Tolerances:
    """The tolerances ``make canary`` passes to ``uebench compare`` (CANARY_COMPARE)."""
    line = next(x for x in MAKEFILE.read_text().splitlines()
                if x.startswith("CANARY_COMPARE ?="))
    args = shlex.split(line.partition("?=")[2])
    options = dict(zip(args[::2], args[1::2]))
    return Tolerances(dsc=float(options.get("--dsc-tolerance", 0.0)),
                      time=float(options.get("--time-tolerance", 0.25)))


def test_preset_is_tiny_and_split():
    preset = get_preset("canary")
    assert preset.volume_size == 32 and preset.victim_scale == "small"
    assert preset.split is not None and sum(preset.split) == preset.n_cases


@pytest.mark.parametrize("folder", BASELINES, ids=lambda p: p.name)
def test_baseline_holds_exactly_the_grid(folder):
    records = baseline_records(folder)
    got = {(r["spec"]["method"], r["spec"]["victim"], budget_label(r), r["spec"]["seed"],
            r["spec"]["dataset"], r["spec"]["preset"]) for r in records}
    want = {(m, v, e, s, GRID["dataset"], GRID["preset"]) for m in GRID["methods"]
            for v in GRID["victims"] for e in GRID["epsilons"] for s in GRID["seeds"]}
    assert got == want
    assert len({spec_key(r) for r in records}) == len(records)


@pytest.mark.parametrize("folder", BASELINES, ids=lambda p: p.name)
def test_baseline_clean_trained_victim_is_meaningful(folder):
    """The clean-trained reference clears the bar below which protection numbers mean
    nothing, and voxshield protects at the canary's budget (so a loss of efficacy shows)."""
    records = {r["spec"]["method"]: r for r in baseline_records(folder)}
    for record in records.values():
        clean = record["efficacy"]["clean_trained"]
        assert record["efficacy"]["reference_warning"] is None
        assert clean["dsc_fg_mean"] >= REFERENCE_MIN_FG_DSC
        assert all(clean["dsc"][name] >= REFERENCE_MIN_CLASS_DSC
                   for name in record["dataset"]["class_names"])
        assert record["environment"]["device"].startswith(f"cpu ({THREADS} threads")
    clean_fg = records["clean"]["efficacy"]["clean_trained"]["dsc_fg_mean"]
    assert records["voxshield"]["efficacy"]["protected_trained"]["dsc_fg_mean"] < clean_fg / 2


def test_sweep_command_runs_the_grid_with_one_thread_per_worker(tmp_path):
    command = sweep_command(tmp_path)
    assert command[1:4] == ["-m", "uebench.cli", "sweep"]
    joined = " ".join(command)
    assert f"--preset {GRID['preset']}" in joined and "--threads 1" in joined
    assert all(f"--method {m}" in joined for m in GRID["methods"])
    assert f"--out {tmp_path}" in joined


def write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir()
    for record in records:
        (folder / f"{record['run_id']}.json").write_text(json.dumps(record))
    return folder


@pytest.mark.parametrize("folder", BASELINES, ids=lambda p: p.name)
def test_unchanged_baseline_passes(tmp_path, folder):
    result = compare(write(tmp_path / "new", baseline_records(folder)), folder,
                     make_tolerances())
    assert not result.regressions, render(result)


@pytest.mark.parametrize("folder", BASELINES, ids=lambda p: p.name)
@pytest.mark.parametrize("what", ["efficacy", "slowdown"])
def test_make_canary_tolerances_still_catch_a_regression(tmp_path, what, folder):
    """voxshield protecting no more than random-roi, or protecting twice as slowly on the same
    machine, fails the comparison ``make canary`` runs."""
    records = copy.deepcopy(baseline_records(folder))
    by_method = {r["spec"]["method"]: r for r in records}
    voxshield = by_method["voxshield"]
    if what == "efficacy":
        voxshield["efficacy"]["protected_trained"] = copy.deepcopy(
            by_method["random-roi"]["efficacy"]["protected_trained"])
        check = "protected DSC"
    else:
        voxshield["throughput"]["protect"]["wall_seconds"] *= 2
        check = "protect time / calibration"
    result = compare(write(tmp_path / "new", records), folder, make_tolerances())
    assert [(c.spec.split(" /")[0], c.check) for c in result.regressions] == [
        ("voxshield", check)]


def cross_cpu_tolerances() -> Tolerances:
    options = dict(zip(CROSS_CPU[::2], CROSS_CPU[1::2]))
    return Tolerances(dsc=float(options["--dsc-tolerance"]),
                      time=float(options["--time-tolerance"]))


def test_baselines_of_two_cpu_models_pass_each_other_at_cross_cpu_tolerances(tmp_path):
    """The cross-CPU tolerances admit the measured spread between two CPU models' canaries
    (which the same-CPU tolerances do not), and still catch voxshield losing its effect: the
    pair they were set from, the protocol-2 baselines of two models (benchmarks/canary/
    archive/protocol-2; protocol 3 has one model's so far)."""
    first, second = sorted(p for p in ARCHIVED.iterdir() if p.is_dir())[:2]
    new = write(tmp_path / "new", baseline_records(first))
    assert compare(new, second, make_tolerances()).regressions
    assert not compare(new, second, cross_cpu_tolerances()).regressions
    records = copy.deepcopy(baseline_records(first))
    by_method = {r["spec"]["method"]: r for r in records}
    by_method["voxshield"]["efficacy"]["protected_trained"] = copy.deepcopy(
        by_method["clean"]["efficacy"]["protected_trained"])
    result = compare(write(tmp_path / "broken", records), second, cross_cpu_tolerances())
    assert [c.spec.split(" /")[0] for c in result.regressions] == ["voxshield"]


def test_baseline_is_chosen_by_cpu_model(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.run_canary.BASELINE", tmp_path)
    for model in ("Intel Xeon 8375C", "AMD EPYC"):
        (tmp_path / slug(model)).mkdir()
        (tmp_path / slug(model) / "r.json").write_text("{}")
    assert slug("Intel(R) Xeon(R) 8375C") == "intel-r-xeon-r-8375c"
    assert baseline_for("AMD EPYC") == (tmp_path / "amd-epyc", True)
    assert baseline_for("Some Other CPU") == (tmp_path / "amd-epyc", False)
