"""Intervals, the paired control test, its false discovery rate over a board, eps@50 and the
boards built on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from uebench.cli import main
from uebench.contracts import registry
from uebench.results import records, stats
from uebench.results.curves import (
    curve_table,
    eps50_table,
    eps_at_half,
    family_size,
    flag_below,
)
from uebench.results.leaderboard import render, tables

CLASSES = ["a", "b"]
BUDGETS = [4 / 255, 8 / 255, 16 / 255, 32 / 255]


def record(method: str, epsilon: float, seed: int, protected: list[float],
           clean: list[float], protocol: int = records.PROTOCOL_VERSION, victim: str = "unet",
           protect_seconds: float = 2.0) -> dict:
    """A run record assembled from stage results that carry what the boards read, with
    per-case scores as given."""

    def stage(scores):
        cases = [{"id": f"case-{i}", "dsc": dict.fromkeys(CLASSES, s)}
                 for i, s in enumerate(scores)]
        return {"evaluation": {"dsc_fg_mean": float(np.mean(scores)), "per_case": cases,
                               "hd95_fg_mean": 1.0},
                "training": {}}

    spec = {"method": method, "victim": victim, "dataset": "spheres", "defense": "none",
            "epsilon": epsilon, "seed": seed, "preset": "tiny", "method_params": {}}
    protection = {
        "fidelity": {"linf": epsilon, "l2": 1.0, "psnr_whole": 50.0,
                     "psnr_roi": 60 - epsilon * 255, "ssim_whole": 0.99, "ssim_roi": 0.98},
        "throughput": {"device": "cpu", "wall_seconds": protect_seconds,
                       "volumes_per_second": 1.0, "voxels_per_second": 1e5,
                       "fit_seconds": 1.0, "perturb_seconds": 1.0}}
    made = records.assemble(
        f"{method}-{epsilon:.4f}-{seed}", spec, {}, {"budget": {"norm": "linf",
                                                              "epsilon": epsilon}},
        role_of(method), {"class_names": CLASSES, "label": "spheres"}, {}, protection,
        stage(clean), stage(protected), 1.0)
    return {**made, "protocol": protocol}


def role_of(method: str) -> str:
    """The declared role of a registered method; made-up names are protections."""
    known = registry.methods.names()
    return registry.methods.get(method).role if method in known else records.PROTECTION


def grid(seeds=(0, 1, 2)) -> list[dict]:
    """random-roi stays at the clean level; 'strong' halves the clean DSC between 8 and
    16/255; 'weak' never does."""
    rng = np.random.default_rng(0)
    clean = {s: list(0.9 + rng.normal(0, 0.01, 16)) for s in seeds}
    means = {"random-roi": [0.9, 0.9, 0.89, 0.88], "strong": [0.85, 0.8, 0.3, 0.05],
             "weak": [0.9, 0.88, 0.85, 0.8]}
    return [record(method, eps, s, list(m + rng.normal(0, 0.01, 16)), clean[s])
            for method, curve in means.items() for eps, m in zip(BUDGETS, curve) for s in seeds]


def test_eps_at_half_interpolates_in_log2_and_censors_both_ends():
    budgets = np.array(BUDGETS)
    assert eps_at_half(budgets, np.array([0.9, 0.8, 0.3, 0.1]), 0.9) == pytest.approx(
        8 / 255 * 2 ** 0.7)
    assert eps_at_half(budgets, np.array([0.4, 0.3, 0.2, 0.1]), 0.9) == 0.0
    assert eps_at_half(budgets, np.array([0.9, 0.8, 0.7, 0.6]), 0.9) == math.inf


def test_interval_is_hierarchical_and_degenerate_on_constants():
    assert stats.interval([{"x": 0.5, "y": 0.5}, {"x": 0.5, "y": 0.5}]) == (0.5, 0.5, 0.5)
    mean, low, high = stats.interval([{"x": 0.2, "y": 0.3}, {"x": 0.8, "y": 0.7}])
    assert mean == pytest.approx(0.5)
    # resampling seeds reaches (almost) the single-seed means; cases alone would not
    assert 0.2 <= low < 0.35 and 0.65 < high <= 0.8


def test_paired_test_needs_three_seeds_and_finds_a_consistent_drop():
    control = {s: {f"c{i}": 0.9 + 0.01 * i for i in range(8)} for s in (0, 1, 2)}
    lower = {s: {c: v - 0.1 for c, v in cases.items()} for s, cases in control.items()}
    assert stats.paired_below(lower, control) < stats.ALPHA
    assert stats.paired_below(control, control) == 1.0
    two = {s: lower[s] for s in (0, 1)}
    assert math.isnan(stats.paired_below(two, control))  # needs MIN_SEEDS = 3 shared seeds


def test_curve_table_marks_cells_below_the_matched_control():
    cells = flag_below(curve_table(grid())).set_index(["method", "budget_label"])
    assert cells.loc[("strong", "16/255"), "below_control"]
    assert cells.loc[("strong", "16/255"), "relative"] == pytest.approx(0.3 / 0.9, abs=0.02)
    assert not cells.loc[("weak", "4/255"), "below_control"]
    assert math.isnan(cells.loc[("random-roi", "4/255"), "p_below_control"])
    row = cells.loc[("strong", "32/255")]
    assert row["dsc_lo"] <= row["dsc_mean"] <= row["dsc_hi"] and row["seeds"] == 3


@pytest.mark.parametrize("role", ["matched-control", "protection"])
def test_the_matched_control_is_the_method_that_declares_that_role(role):
    renamed = []
    for r in grid():
        if r["spec"]["method"] == "random-roi":
            r = {**r, "spec": {**r["spec"], "method": "other-noise"},
                 "method": {**r["method"], "role": role}}
        renamed.append(r)
    cells = flag_below(curve_table(renamed)).set_index(["method", "budget_label"])
    assert cells.loc[("other-noise", "4/255"), "role"] == role
    if role == "matched-control":
        assert cells.loc[("strong", "16/255"), "below_control"]
    else:  # nothing declares the matched control: no cell is tested
        assert cells["p_below_control"].isna().all()


def test_fdr_adjust_is_benjamini_hochberg_over_the_finite_p_values():
    # by hand, over the 4 finite p (the NaN is no test and not of the family): sorted 0.01,
    # 0.03, 0.04, 0.2 -> p * 4 / rank = 0.04, 0.06, 0.0533, 0.2 -> running minimum from the
    # largest: 0.04, 0.0533, 0.0533, 0.2
    q = stats.fdr_adjust([0.01, 0.04, 0.03, math.nan, 0.2])
    assert q[[0, 1, 2, 4]] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert math.isnan(q[3])
    assert stats.fdr_adjust([0.03]) == pytest.approx([0.03])  # a family of one: q = p
    assert np.isnan(stats.fdr_adjust([math.nan, math.nan])).all()
    assert stats.fdr_adjust([]).shape == (0,)


def test_a_board_flags_by_q_over_its_distinct_tests_not_by_p():
    cells = pd.DataFrame({"dataset": "d", "preset": "p", "victim": "v", "defense": "none",
                          "method": ["a", "b", "c", "control", "e", "a"],
                          "budget_label": "4/255",
                          "p_below_control": [0.01, 0.04, 0.03, math.nan, 0.2, 0.01]})
    flagged = flag_below(cells)  # the last row repeats a's cell: one test, not two
    assert family_size(cells) == 4
    assert flagged["q_below_control"].tolist()[:3] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3])
    # b and c are below at p < 0.05 but not at q < 0.05; the untested control is not flagged
    assert flagged["below_control"].tolist() == [True, False, False, False, False, True]
    assert flag_below(cells.iloc[:1])["below_control"].tolist() == [True]  # alone: q = p


def test_rendered_boards_flag_by_q_and_show_p_beside_q(tmp_path, monkeypatch):
    """Four protections whose paired tests give p 0.01, 0.04, 0.03 and 0.2 against random-roi:
    at p < 0.05 three would be ↓; the boards flag the one whose q is below 0.05."""
    levels = {"a": 0.5, "b": 0.6, "c": 0.7, "e": 0.8, "random-roi": 0.9}
    p_of = {0.5: 0.01, 0.6: 0.04, 0.7: 0.03, 0.8: 0.2}
    monkeypatch.setattr(stats, "paired_comparison", lambda method, control, test: (
        p_of.get(round(method[0]["case-0"], 2), math.nan), -0.1, -0.2, 0.0))
    folder = tmp_path / "records"
    folder.mkdir()
    for method, level in levels.items():
        for seed in (0, 1, 2):
            one = record(method, BUDGETS[0], seed, [level] * 4, [0.95] * 4)
            (folder / f"{one['run_id']}.json").write_text(json.dumps(one))
    render(folder, tmp_path / "boards")
    for name in ("grid", "curves"):
        board = (tmp_path / "boards" / f"{name}.md").read_text()
        rows = {line.split("|")[3 if name == "grid" else 5].strip(): line
                for line in board.splitlines() if line.startswith("| spheres")}
        assert ["↓" in rows[m] for m in ("a", "b", "c", "e")] == [True, False, False, False]
        assert ("at a Benjamini-Hochberg false discovery rate of 5 % over this board's 4 "
                "tests") in board
    efficacy = pd.read_csv(tmp_path / "boards" / "efficacy.csv").set_index("method")
    assert efficacy.loc["b", "p_below_random_roi"] == 0.04  # raw p kept, q beside it
    assert efficacy.loc["b", "q_below_random_roi"] == pytest.approx(0.0533)
    assert math.isnan(efficacy.loc["random-roi", "q_below_random_roi"])
    assert "p raw, q adjusted" in (tmp_path / "boards" / "efficacy.md").read_text()


def test_eps50_ranks_the_stronger_method_first_with_an_interval():
    table = eps50_table(grid()).set_index("method")
    strong = table.loc["strong"]
    assert 8 / 255 < strong["eps50"] < 16 / 255
    assert strong["eps50_lo"] <= strong["eps50"] <= strong["eps50_hi"]
    assert strong["rank"] == 1 and table.loc["weak", "eps50_label"].startswith("> 32/255")
    assert 40 < strong["psnr_roi_at_eps50"] < 52


def test_boards_refuse_a_mix_of_protocols(tmp_path):
    records = grid(seeds=(0,))
    assert set(tables(records)) == {"grid", "curves", "eps50", "efficacy", "fidelity",
                                    "throughput"}
    records[0]["protocol"] = 1
    with pytest.raises(ValueError, match="mix protocols"):
        tables(records)
    (tmp_path / "records").mkdir()
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**records[0], "protocol": 1}))
    result = CliRunner().invoke(main, ["leaderboard", "--records", str(tmp_path / "records"),
                                       "--add", str(old), "--out", str(tmp_path / "boards")])
    assert result.exit_code == 2 and "protocol 1" in result.output
    assert not list((tmp_path / "records").glob("*.json"))


def test_boards_refuse_a_mix_of_cpu_and_gpu_records():
    records = grid(seeds=(0,))
    for r in records:
        r["environment"] = {"device": "cpu (2 threads, x86_64)"}
    tables(records)
    records[0]["environment"] = {"device": "NVIDIA H100 80GB HBM3"}
    with pytest.raises(ValueError, match="mix devices"):
        tables(records)


def test_rendered_curves_board_shows_intervals_and_the_control_mark(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for r in grid():
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    render(folder, tmp_path / "boards")
    curves = (tmp_path / "boards" / "curves.md").read_text()
    assert f"Protocol {records.PROTOCOL_VERSION}, victims trained on CPU." in curves
    assert "↓" in curves and "(3s)" in curves
    eps50 = (tmp_path / "boards" / "eps50.md").read_text()
    assert "> 32/255" in eps50


def test_grid_puts_methods_against_victims_under_the_per_seed_clean_reference():
    from uebench.results.leaderboard import REFERENCE_ROW

    runs = [record("em", BUDGETS[0], 0, [0.5] * 4, [0.9] * 4),
            record("em", BUDGETS[0], 0, [0.7] * 4, [0.95] * 4, victim="swin"),
            record("tap", BUDGETS[0], 0, [0.8] * 4, [0.9] * 4, protect_seconds=3.0),
            record("lsp", BUDGETS[0], 0, [0.8] * 4, [0.9] * 4, protect_seconds=4.0),
            record("em", BUDGETS[0], 1, [0.6] * 4, [0.8] * 4, protect_seconds=5.0)]
    boards = tables(runs)
    grid = boards["grid"]
    assert grid["method"].tolist() == [REFERENCE_ROW, "em", "lsp", "tap"]
    # per seed, not per record: (0.9 + 0.8) / 2, though three records share seed 0's 0.9
    assert grid.loc[0, "unet"].startswith("0.850 [")
    assert grid.loc[0, "swin"].startswith("0.950 [") and grid.loc[1, "swin"].startswith("0.700")
    assert grid.loc[3, "unet"].startswith("0.800") and pd.isna(grid.loc[3, "swin"])
    # the em protection of seed 0 serves both victims: timed once
    throughput = boards["throughput"].set_index("method")
    assert throughput.loc["em", "timed_runs"] == 2 and throughput.loc["tap", "timed_runs"] == 1


def test_boards_mark_a_cell_whose_surrogate_stopped_below_fit_dsc(tmp_path):
    """A cell with one seed whose surrogate stopped below fit_dsc is marked † on the grid and
    curves boards (and explained in their headers); the same cell without it is not."""
    from uebench.results.records import SURROGATE_MARK, SURROGATE_MARK_TEXT

    folder = tmp_path / "records"
    folder.mkdir()
    archived = Path(__file__).parents[1] / "leaderboards" / "archive" / "protocol-2" / "cpu"
    committed = sorted((archived / "records").glob("*.json"))
    kept = [json.loads(p.read_text()) for p in committed]
    for record in kept:
        if record["spec"]["method"] == "voxshield":  # as if every surrogate had learnt
            record["method"]["history"][-1]["surrogate_train_dsc"] = 0.95
    short = next(r for r in kept if r["spec"]["method"] == "voxshield")
    short["method"]["history"][-1]["surrogate_train_dsc"] = 0.2
    for record in kept:
        (folder / f"{record['run_id']}.json").write_text(json.dumps(record))
    board = tables(kept)
    grid = board["grid"]
    marked = grid[grid["unet"].str.endswith(SURROGATE_MARK)]
    assert marked[["method", "epsilon"]].values.tolist() == [
        ["voxshield", records.budget_label(short)]]
    render(folder, tmp_path / "boards")
    for name in ("grid", "curves", "efficacy"):
        assert SURROGATE_MARK_TEXT in (tmp_path / "boards" / f"{name}.md").read_text()
