"""The recipe walk's board and figure, from records made like the scale study's test records."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.test_scaling import DROPS, record, write
from uebench.cli import main
from uebench.contracts.walk import STEPS
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
