"""``uebench compare``: regression tracking between two folders of run records (synthetic)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_curves import role_of

from uebench.cli import main
from uebench.results import records
from uebench.runner.calibration import calibration_seconds

CLASSES = ["a", "b"]
EPSILON = 8 / 255
METHODS = {"voxshield": 0.40, "em": 0.60, "random-roi": 0.85}


def record(method: str, seed: int, protected: list[float], clean: list[float],
           psnr_roi: float = 40.0, wall: float = 30.0, calibration: float | None = 0.1) -> dict:
    """A run record assembled from stage results that carry what compare reads, with per-case
    scores as given."""

    def stage(scores):
        cases = [{"id": f"case-{i}", "dsc": dict.fromkeys(CLASSES, s)}
                 for i, s in enumerate(scores)]
        return {"evaluation": {"dsc_fg_mean": float(np.mean(scores)), "per_case": cases},
                "training": {}}

    protect = {"device": "cpu", "wall_seconds": wall, "fit_seconds": wall - 1.0,
               "perturb_seconds": 1.0}
    if calibration is not None:
        protect["calibration_seconds"] = calibration
    spec = {"method": method, "victim": "unet", "dataset": "spheres", "defense": "none",
            "epsilon": EPSILON, "seed": seed, "preset": "tiny", "method_params": {}}
    return records.assemble(
        f"{method}-{seed}", spec, {}, {"budget": {"norm": "linf", "epsilon": EPSILON}},
        role_of(method), {"class_names": CLASSES, "label": "spheres"}, {},
        {"fidelity": {"linf": EPSILON, "psnr_roi": psnr_roi}, "throughput": protect},
        stage(clean), stage(protected), 1.0)


def baseline(calibration: float | None = 0.1) -> list[dict]:
    """Three methods, two seeds, 16 test cases each."""
    rng = np.random.default_rng(0)
    return [record(method, seed, list(level + rng.normal(0, 0.02, 16)),
                   list(0.9 + rng.normal(0, 0.01, 16)), calibration=calibration)
            for method, level in METHODS.items() for seed in (0, 1)]


def write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    return folder


def changed(records: list[dict], method: str, edit) -> list[dict]:
    """A deep copy of ``records`` with ``edit`` applied to ``method``'s records."""
    out = copy.deepcopy(records)
    for r in out:
        if r["spec"]["method"] == method:
            edit(r)
    return out


def run_compare(tmp_path: Path, new: list[dict], base: list[dict], *args: str):
    return CliRunner().invoke(main, ["compare", str(write(tmp_path / "new", new)),
                                     str(write(tmp_path / "base", base)), *args])


def test_unchanged_rerun_passes(tmp_path):
    base = baseline()
    rerun = changed(base, "voxshield", lambda r: r["throughput"]["protect"].update(
        wall_seconds=31.0, calibration_seconds=0.102))  # timing noise only
    result = run_compare(tmp_path, rerun, base)
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output
    assert "REGRESSION" not in result.output


def test_planted_efficacy_loss_fails_naming_the_method(tmp_path):
    base = baseline()

    def weaker(r):
        for row in r["efficacy"]["protected_trained"]["per_case"]:
            row["dsc"] = {k: v + 0.3 for k, v in row["dsc"].items()}

    result = run_compare(tmp_path, changed(base, "voxshield", weaker), base)
    assert result.exit_code == 1, result.output
    moved = [line for line in result.output.splitlines() if "protected DSC" in line]
    assert len(moved) == 1 and moved[0].startswith("voxshield /")
    assert "REGRESSION: 1 check(s) moved in 1 of 3 spec(s)" in result.output


def test_planted_slowdown_fails(tmp_path):
    base = baseline()
    slower = changed(base, "em", lambda r: r["throughput"]["protect"].update(wall_seconds=90.0))
    result = run_compare(tmp_path, slower, base)
    assert result.exit_code == 1, result.output
    moved = [line for line in result.output.splitlines() if "protect time" in line]
    assert len(moved) == 1 and moved[0].startswith("em /")
    assert "900.0" in moved[0] and "300.0" in moved[0]  # new and baseline ratios


def test_slowdown_on_a_slower_machine_passes(tmp_path):
    base = baseline()
    slower_machine = copy.deepcopy(base)
    for r in slower_machine:
        r["throughput"]["protect"].update(wall_seconds=90.0, calibration_seconds=0.3)
    result = run_compare(tmp_path, slower_machine, base)
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output


def test_fidelity_drop_fails(tmp_path):
    base = baseline()
    noisier = changed(base, "random-roi", lambda r: r["fidelity"].update(psnr_roi=37.0))
    result = run_compare(tmp_path, noisier, base)
    assert result.exit_code == 1, result.output
    moved = [line for line in result.output.splitlines() if "ROI PSNR" in line]
    assert len(moved) == 1 and moved[0].startswith("random-roi /")
    # within the tolerance it passes
    assert run_compare(tmp_path / "ok", noisier, base, "--psnr-tolerance", "4").exit_code == 0


def test_budget_overrun_fails(tmp_path):
    base = baseline()
    over = changed(base, "em", lambda r: r["fidelity"].update(linf=2 * EPSILON))
    result = run_compare(tmp_path, over, base)
    assert result.exit_code == 1, result.output
    assert any(line.startswith("em /") and "L-inf" in line
               for line in result.output.splitlines())


def test_records_without_calibration_compare_efficacy_and_fidelity_only(tmp_path):
    base = baseline(calibration=None)
    slower = changed(base, "em", lambda r: r["throughput"]["protect"].update(wall_seconds=90.0))
    result = run_compare(tmp_path, slower, base)
    assert result.exit_code == 0, result.output
    assert "compared on efficacy and fidelity only (no calibration time)" in result.output


@pytest.mark.parametrize("case", ["missing", "empty", "unmatched"])
def test_nothing_to_compare_exits_2(tmp_path, case):
    base = write(tmp_path / "base", baseline())
    new = tmp_path / "new"
    if case == "empty":
        new.mkdir()
    elif case == "unmatched":
        other = [dict(r, spec={**r["spec"], "victim": "swinunetr"}) for r in baseline()]
        write(new, other)
    result = CliRunner().invoke(main, ["compare", str(new), str(base)])
    assert result.exit_code == 2, result.output
    message = {"missing": "does not exist", "empty": "holds no run records",
               "unmatched": "no spec of"}[case]
    assert message in result.output


def test_calibration_is_positive_and_leaves_the_random_state_alone():
    state = torch.get_rng_state()
    seconds = calibration_seconds(repeats=2)
    assert 0 < seconds < 60
    assert torch.equal(state, torch.get_rng_state())


def test_the_reference_is_not_checked_for_efficacy(tmp_path):
    """``clean`` (role reference) perturbs nothing: a higher DSC is not a regression."""
    rng = np.random.default_rng(1)
    base = [record("clean", seed, list(0.9 + rng.normal(0, 0.01, 16)),
                   list(0.9 + rng.normal(0, 0.01, 16))) for seed in (0, 1)]

    def higher(r):
        for row in r["efficacy"]["protected_trained"]["per_case"]:
            row["dsc"] = {k: v + 0.05 for k, v in row["dsc"].items()}

    result = run_compare(tmp_path, changed(base, "clean", higher), base)
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output


def _surrogate(reached: bool):
    def edit(r):
        r["method"]["surrogate"] = {"updates": 120, "train_dsc": 0.95 if reached else 0.1,
                                    "fit_dsc": 0.9, "max_updates": 120,
                                    "reached_fit_dsc": reached}
    return edit


def test_a_surrogate_that_stopped_learning_is_a_regression(tmp_path):
    base = changed(baseline(), "voxshield", _surrogate(True))
    result = run_compare(tmp_path, changed(base, "voxshield", _surrogate(False)), base)
    assert result.exit_code == 1, result.output
    moved = [line for line in result.output.splitlines() if "surrogate below fit_dsc" in line]
    assert len(moved) == 1 and moved[0].startswith("voxshield /") and "2 of 2" in moved[0]


def test_a_surrogate_short_in_the_baseline_too_is_no_regression(tmp_path):
    base = changed(baseline(), "voxshield", _surrogate(False))
    result = run_compare(tmp_path, copy.deepcopy(base), base)
    assert result.exit_code == 0, result.output
    assert "surrogate below fit_dsc" in result.output  # shown, not failed
