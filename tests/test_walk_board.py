"""The recipe walk's board and figure, from records made like the scale study's test records."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from tests.test_scaling import DROPS, record, write
from uebench.cli import main
from uebench.contracts.walk import STEPS
from uebench.results import stats
from uebench.results.curves import family_size
from uebench.results.scaling import COMPARISONS, scaling_table
from uebench.results.walk_board import WalkError, walk_cells

WALKED = [preset for _, _, preset in STEPS]


def walk(presets=(WALKED[0], WALKED[-1]), seeds=(0, 1, 2)) -> list[dict]:
    return [record(method, preset, 4 / 255, seed, drop * (2 if preset == WALKED[0] else 1))
            for preset in presets for method, drop in DROPS.items() for seed in seeds]


def test_cells_carry_their_step_in_walk_order_with_the_paired_difference():
    cells = walk_cells(walk() + [record("em", "canary", 4 / 255, 0, 0.1)])
    assert set(cells["preset"]) == {WALKED[0], WALKED[-1]}  # canary is not a step
    vox = cells[cells["method"] == "voxshield"]
    assert vox["step"].tolist() == ["authors", "selection"]
    assert vox["step_index"].tolist() == [0, len(STEPS) - 1]
    assert vox["diff_mean"].to_numpy() == pytest.approx([-0.76, -0.38])
    assert (vox["p_below_control"] < 0.05).all()


def test_the_board_flags_both_comparisons_by_q_over_one_family(monkeypatch):
    """Ten paired tests (voxshield and em against random-roi, and all three methods against
    clean-trained, at two steps) with p 0.001, 0.04, 0.03, 0.2, 0.045, twice each: eight are
    below 0.05, two stay below it after Benjamini-Hochberg (q 0.005; the rest q >= 0.056)."""
    p_values = itertools.cycle([0.001, 0.04, 0.03, 0.2, 0.045])
    monkeypatch.setattr(stats, "paired_comparison",
                        lambda method, control, test: (next(p_values), -0.1, -0.2, -0.01))
    cells = walk_cells(walk())
    assert family_size(cells, COMPARISONS) == 10
    table = scaling_table(cells)
    for text, p, q in (("minus_random_roi_95ci", "p_below_random_roi", "q_below_random_roi"),
                       ("minus_clean_trained_95ci", "p_below_clean_trained",
                        "q_below_clean_trained")):
        assert (table[text].str.endswith("↓") == (table[q] < stats.ALPHA)).all()
        assert (table[q].isna() == table[p].isna()).all()
    flagged = table["minus_random_roi_95ci"].str.endswith("↓").sum() + table[
        "minus_clean_trained_95ci"].str.endswith("↓").sum()
    assert flagged == 2
    assert ((table["p_below_random_roi"] < 0.05).sum()
            + (table["p_below_clean_trained"] < 0.05).sum()) == 8


def test_no_walk_record_is_a_clear_error():
    with pytest.raises(WalkError, match="no recipe-walk records"):
        walk_cells([record("em", "canary", 4 / 255, 0, 0.1)])


def test_cli_writes_the_board_and_its_figure(tmp_path):
    folder = write(tmp_path / "records", walk())
    figure = tmp_path / "out" / "walk.png"
    result = CliRunner().invoke(main, ["walk", str(folder), "--out", str(tmp_path / "out"),
                                       "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "out" / "walk.md").read_text()
    assert "The recipe walk" in board and "walk-authors" in board
    assert figure.stat().st_size > 10_000
