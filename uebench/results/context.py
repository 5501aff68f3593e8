"""Where one run stands on the committed boards: the lines ``uebench run`` prints under its
summary, so that a first run reads as a finding. For the run's cell (same dataset, preset,
victim, defense, method and budget, on the boards of its kind of device and protocol) they give
the committed cell's DSC with its interval and seeds, the matched random-roi cell, the paired
difference with its interval, p and q, one line saying whether the method separates from the
control there (as the board that shows the cell flags it: the curves board's ↓, or the efficacy
board's q for a cell the curves board does not show), and the method's curve over the budgets
the boards hold."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from uebench.results import records, stats
from uebench.results.curves import curve_table, family_size, flag_below
from uebench.results.leaderboard import curves_board_cells
from uebench.results.records import Record

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"


def boards_for(record: Record, root: Path = BOARDS) -> Path:
    """The committed records folder of the record's kind of device."""
    return root / ("gpu" if records.device_kind(record) == "cuda" else "") / "records"


def _interval(row: pd.Series, prefix: str = "dsc") -> str:
    return (f"{row[f'{prefix}_mean']:.3f} [{row[f'{prefix}_lo']:.3f}, "
            f"{row[f'{prefix}_hi']:.3f}]")


def board_context(record: Record, folder: Path | None = None) -> list[str]:
    """The lines placing ``record`` on the committed boards in ``folder`` (default: the
    checkout's, for the record's kind of device); one line saying so when there is none."""
    folder = folder or boards_for(record)
    spec = record["spec"]
    what = (f"{spec['method']} on {spec['victim']} at {records.budget_label(record)} "
            f"({spec['dataset']}, preset {spec['preset']}, defense {spec['defense']})")
    found = records.load_records(folder) if folder.is_dir() and any(folder.glob("*.json")) else []
    committed = [r for r in found if records.protocol_of(r) == records.protocol_of(record)]
    if not committed:
        return [f"committed boards: none of protocol {records.protocol_of(record)} in {folder}"]
    table = curve_table(committed)
    cell = records.cell(record)
    on_curves = record_on_curves(table, cell)
    board = "curves" if on_curves else "efficacy"
    table = flag_below(curves_board_cells(table) if on_curves else table)
    same = table[(table["dataset"] == cell.dataset) & (table["preset"] == cell.preset)
                 & (table["victim"] == cell.victim) & (table["defense"] == cell.defense)]
    mine = same[(same["method"] == cell.method) & (same["budget_label"] == cell.budget)]
    if mine.empty:
        return [f"committed boards ({folder}): no cell for {what} yet"]
    row = mine.iloc[0]
    lines = [f"committed boards ({folder}, protocol {records.protocol_of(record)}): {what}: "
             f"{_interval(row)} over {row['seeds']} seed(s); clean-trained "
             f"{_interval(row, 'clean')}"]
    control = same[(same["role"] == records.MATCHED_CONTROL)
                   & (same["budget_label"] == cell.budget)]
    if row["role"] == records.PROTECTION and not control.empty:
        lines.append(f"  matched random-roi: {_interval(control.iloc[0])}; difference "
                     f"{_difference(row)}")
        lines.append(f"  {_verdict(row, board, family_size(table))}")
    curve = same[same["method"] == cell.method].sort_values("budget")
    if len(curve) > 1:
        points = ", ".join(f"{r['budget_label']} {r['dsc_mean']:.3f}"
                           for _, r in curve.iterrows())
        lines.append(f"  {cell.method}'s curve there: {points}")
    return lines


def record_on_curves(table: pd.DataFrame, cell: records.Cell) -> bool:
    """Whether the curves board shows ``cell`` (an L-inf budget of a method that is not the
    reference)."""
    shown = curves_board_cells(table)
    return bool(((shown["dataset"] == cell.dataset) & (shown["preset"] == cell.preset)
                 & (shown["victim"] == cell.victim) & (shown["defense"] == cell.defense)
                 & (shown["method"] == cell.method)
                 & (shown["budget_label"] == cell.budget)).any())


def _difference(row: pd.Series) -> str:
    if math.isnan(row["diff_mean"]):
        return "not computed"
    if math.isnan(row["diff_lo"]):
        return f"{row['diff_mean']:+.3f} (fewer than 3 shared seeds: no interval, no test)"
    return (f"{row['diff_mean']:+.3f} [{row['diff_lo']:+.3f}, {row['diff_hi']:+.3f}], "
            f"p = {row['p_below_control']:.3g}, q = {row['q_below_control']:.3g}")


def _verdict(row: pd.Series, board: str, tests: int) -> str:
    if math.isnan(row["p_below_control"]):
        return "separates from random-roi: not testable yet (needs 3 shared seeds)"
    family = (f"one-sided paired test, Benjamini-Hochberg over the {board} board's {tests} "
              "tests")
    if row["below_control"]:
        return f"separates from random-roi: yes, below it ({family}, q < {stats.ALPHA:g})"
    return f"separates from random-roi: no ({family}, q >= {stats.ALPHA:g})"
