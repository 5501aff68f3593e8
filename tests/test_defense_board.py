"""The defense board: protected cells under each defense beside what the defense costs clean
data, with the breaks / neutralises verdicts."""

from __future__ import annotations

import json

import numpy as np
from test_curves import record

from uebench.results.curves import curve_table
from uebench.results.defense_board import defense_table
from uebench.results.leaderboard import render

EPS = 32 / 255


def defended(method: str, defense: str, seed: int, level: float, clean: list[float],
             rng: np.random.Generator) -> dict:
    r = record(method, EPS, seed, list(level + rng.normal(0, 0.01, 16)), clean)
    r["spec"]["defense"] = defense
    r["run_id"] += f"-{defense}"
    return r


def board_records() -> list[dict]:
    """clean 0.9; 'strong' 0.3 undefended; 'blur' costs clean data 0.2 and lifts 'strong'
    to that level (neutralises, does not break); 'flip' costs nothing and restores it fully
    (breaks)."""
    rng = np.random.default_rng(0)
    clean = {s: list(0.9 + rng.normal(0, 0.01, 16)) for s in range(3)}
    levels = {("clean", "none"): 0.9, ("clean", "blur"): 0.7, ("clean", "flip"): 0.9,
              ("strong", "none"): 0.3, ("strong", "blur"): 0.7, ("strong", "flip"): 0.9}
    return [defended(m, d, s, level, clean[s], rng)
            for (m, d), level in levels.items() for s in range(3)]


def test_defense_rows_follow_the_undefended_row_with_verdicts():
    table = defense_table(curve_table(board_records())).set_index(["method", "defense"])
    assert list(table.loc["strong"].index) == ["none", "blur", "flip"]
    blur, flip = table.loc[("strong", "blur")], table.loc[("strong", "flip")]
    assert abs(blur["clean_data_mean"] - 0.7) < 0.02 and abs(blur["dsc_mean"] - 0.7) < 0.02
    assert not blur["breaks"] and blur["neutralises"]
    assert flip["breaks"] and flip["neutralises"]
    assert table.loc[("strong", "none"), "breaks"] is None
    assert table.loc[("clean", "blur"), "neutralises"] is None


def test_no_defended_record_means_no_board(tmp_path):
    plain = [r for r in board_records() if r["spec"]["defense"] == "none"]
    assert defense_table(curve_table(plain)).empty
    folder = tmp_path / "records"
    folder.mkdir()
    for r in plain:
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    names = {p.name for p in render(folder, tmp_path / "boards")}
    assert "defenses.md" not in names and "grid.md" in names


def test_rendered_defense_board_says_yes_and_no(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for r in board_records():
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    render(folder, tmp_path / "boards")
    text = (tmp_path / "boards" / "defenses.md").read_text()
    flip = next(line for line in text.splitlines() if "| strong" in line and "| flip" in line)
    blur = next(line for line in text.splitlines() if "| strong" in line and "| blur" in line)
    assert flip.count("| yes") == 2
    assert blur.count("| no") == 1 and blur.count("| yes") == 1
