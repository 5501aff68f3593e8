"""The defense board: protected cells under each defense beside what the defense costs clean
data, with the breaks / neutralises verdicts."""

from __future__ import annotations

import json

import numpy as np
from test_curves import record

from uebench.results.curves import curve_table, flag_below
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


def partial_records() -> list[dict]:
    """clean 0.9; 'strong' 0.3 fully protected, 0.5 at F = 0.8 and 0.85 at F = 0.2; the
    random-roi control at 0.9 at every F; an unrelated 'blur' column that is not on the curve."""
    rng = np.random.default_rng(1)
    clean = {s: list(0.9 + rng.normal(0, 0.01, 16)) for s in range(3)}
    levels = {("strong", "none"): 0.3, ("strong", "partial:fraction=0.8"): 0.5,
              ("strong", "partial:fraction=0.2"): 0.85, ("strong", "blur"): 0.6,
              **{("random-roi", d): 0.9 for d in ("none", "partial:fraction=0.8",
                                                   "partial:fraction=0.2")}}
    return [defended(m, d, s, level, clean[s], rng)
            for (m, d), level in levels.items() for s in range(3)]


def test_partial_curve_orders_fractions_with_full_protection_last(tmp_path):
    from uebench.results.partial_curve import partial_table, protected_fraction

    assert protected_fraction("none") == 1.0 and protected_fraction("partial") == 0.5
    assert protected_fraction("partial:fraction=0.2+affine") is None
    assert protected_fraction("gaussian") is None and protected_fraction("blur") is None
    curve = flag_below(partial_table(curve_table(partial_records())))
    strong = curve[curve["method"] == "strong"]
    assert list(strong["fraction"]) == [0.2, 0.8, 1.0]  # 'blur' is not a point of the curve
    assert np.allclose(strong["dsc_mean"], [0.85, 0.5, 0.3], atol=0.02)
    assert list(strong["below_control"]) == [True, True, True]
    assert np.allclose(strong["diff_mean"], [-0.05, -0.4, -0.6], atol=0.02)
    folder = tmp_path / "records"
    folder.mkdir()
    for r in partial_records():
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    render(folder, tmp_path / "boards")
    rows = [line for line in (tmp_path / "boards" / "partial.md").read_text().splitlines()
            if "| strong" in line]
    assert len(rows) == 3 and all("↓" in line for line in rows)
    plain = tmp_path / "plain"
    plain.mkdir()
    for r in board_records():
        (plain / f"{r['run_id']}.json").write_text(json.dumps(r))
    assert "partial.md" not in {p.name for p in render(plain, tmp_path / "plain-boards")}


def test_report_draws_the_partial_curve_when_there_is_one(tmp_path):
    from uebench.report.figures import palette
    from uebench.report.page import partial_sections

    cells = curve_table(partial_records())
    colours = palette(dict(zip(cells["method"], cells["role"])))
    (section,) = partial_sections(cells, tmp_path, colours)
    assert section.images and all((tmp_path / name).stat().st_size > 0
                                  for name in section.images)
    assert "strong" in section.table_html
    assert partial_sections(curve_table(board_records()), tmp_path, colours) == []
