"""The scaling board: how far each protection lies below the matched random-roi control at each
point of the scale study's axes (``uebench.contracts.scaling.AXES``).

Built on ``curves.curve_table``'s cells of the records whose preset is a point of an axis, so
intervals, the paired test and the surrogate mark follow the same rules as every other board.
One row per axis, point, (dataset, victim, defense), method of ``METHODS`` and L-inf budget; the
base preset (``canary``) is a point of every axis, so its cells appear once per axis (one test
each: the board's ↓, against random-roi and against clean-trained, are one family,
``curves.flag_below``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uebench.contracts.scaling import AXES, AXIS_TEXT, BASE, points
from uebench.results import records as rec
from uebench.results import stats
from uebench.results.curves import (
    curve_table,
    difference_text,
    family_size,
    flag_below,
    paired_test,
)
from uebench.results.leaderboard import INTERVALS, interval_text, surrogate_mark, write_board
from uebench.results.records import Record

METHODS = ("voxshield", "em", "random-roi")
"""The methods the study measures: two protections and their matched control."""
SITE = ["dataset", "victim", "defense"]
COMPARISONS = ("control", "clean")
"""The board's two paired comparisons (``curves.TESTS``), flagged as one family."""


class ScalingError(ValueError):
    """Records that hold no cell of the scale study."""


def study_records(records: list[Record]) -> list[Record]:
    """The records whose preset is a point of an axis."""
    at = points()
    return [r for r in records if r["spec"]["preset"] in at]


def scaling_cells(records: list[Record]) -> pd.DataFrame:
    """``curve_table``'s cells of ``METHODS`` at the L-inf budgets, for the records of the
    study's presets, each with its ``axis`` and ``value`` (one row per axis the preset is a
    point of), in axis, site, method, budget and value order, flagged over the board's tests
    (``flag_below``, both ``COMPARISONS``); ``ScalingError`` when no record is of a study
    preset and method."""
    at = points()
    study = study_records(records)
    cells = curve_table(study) if study else pd.DataFrame()
    if not cells.empty:
        cells = cells[cells["method"].isin(METHODS) & cells["budget"].notna()]
    if cells.empty:
        raise ScalingError(
            f"no scale-study records: none is of {', '.join(METHODS)} at a preset of the "
            f"axes ({', '.join(at)})")
    rec.single_protocol(study)
    rec.single_device_kind(study)
    placed = pd.DataFrame([{"preset": name, "axis": axis, "value": value,
                            "axis_order": list(AXES).index(axis)}
                           for name, where in at.items() for axis, value in where])
    cells = cells.merge(placed, on="preset").assign(
        method_order=lambda f: f["method"].map(METHODS.index))
    order = ["axis_order", *SITE, "method_order", "budget", "value"]
    return flag_below(cells.sort_values(order, kind="stable")
                      .drop(columns=["axis_order", "method_order"]).reset_index(drop=True),
                      COMPARISONS)


def scaling_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The board of ``scaling_cells`` (flagged): intervals and the differences as text,
    each p with its q beside it."""
    return pd.DataFrame({
        "axis": cells["axis"], "value": cells["value"], "preset": cells["preset"],
        **{column: cells[column] for column in SITE},
        "method": cells["method"], "epsilon": cells["budget_label"], "seeds": cells["seeds"],
        "protected_dsc_95ci": [interval_text(m, lo, hi) + surrogate_mark(short)
                               for m, lo, hi, short in
                               zip(cells["dsc_mean"], cells["dsc_lo"], cells["dsc_hi"],
                                   cells["surrogate_short_seeds"])],
        "minus_random_roi_95ci": [difference_text(row, "diff", "below_control")
                                  for _, row in cells.iterrows()],
        "p_below_random_roi": cells["p_below_control"].round(4),
        "q_below_random_roi": cells["q_below_control"].round(4),
        "minus_clean_trained_95ci": [difference_text(row, "clean_diff", "below_clean")
                                     for _, row in cells.iterrows()],
        "p_below_clean_trained": cells["p_below_clean"].round(4),
        "q_below_clean_trained": cells["q_below_clean"].round(4),
        "clean_trained_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                               zip(cells["clean_mean"], cells["clean_lo"], cells["clean_hi"])],
    })


BELOW = ("the matched random-roi control (minus_random_roi_95ci) or the clean-trained victim "
         "(minus_clean_trained_95ci)")
HEADER = (
    f"The scale study: {BASE} with one field moved per axis ("
    + "; ".join(f"{axis}: {AXIS_TEXT[axis]} "
                + ", ".join(f"{value}{'*' if name == BASE else ''}"
                            for value, name in axis_points)
                for axis, axis_points in AXES.items())
    + f"; * = {BASE} itself, on every axis; the train-cases points test on {BASE}'s test "
    "cases). Per axis point, method and budget: seeds = the "
    "protected cell's seeds; protected_dsc_95ci = the protected-trained DSC; "
    "minus_random_roi_95ci = the paired difference to the matched random-roi cell (protected "
    "minus control, per seed and test case, over the seeds both have; negative = the "
    "protection lowers the DSC more than random noise in the same ROI), with its 95 % "
    f"{{interval}} when they share at least {stats.MIN_SEEDS} seeds (the "
    "point alone with fewer); p_below_random_roi = that {test}'s one-sided p (blank "
    f"with fewer than {stats.MIN_SEEDS} shared seeds) and q_below_random_roi its q; "
    "minus_clean_trained_95ci, p_below_clean_trained and q_below_clean_trained = the same "
    "comparison against the clean-trained victim of the same preset and seeds (for the "
    "control too: a difference to random-roi can come from the control rising above "
    "clean-trained, which this column shows); clean_trained_95ci = the clean-trained "
    f"reference of the same preset and victim. {INTERVALS} {{tests}}"
)
"""The header, with ``{tests}`` where ``header`` says the board's ↓ and ``{interval}`` and
``{test}`` where it names the paired test (``DIFFERENCE_INTERVALS``)."""
DIFFERENCE_INTERVALS = {
    stats.BOOTSTRAP: ("paired hierarchical bootstrap interval", "bootstrap"),
    stats.T_TEST: ("t interval over the seeds' mean differences", "t-test"),
}
"""Per paired test: its interval of a difference and its name, as the header says them."""


def header(cells: pd.DataFrame, text: str = HEADER) -> str:
    """``text`` (the scale study's header or one built on it, as the walk's) with the ↓
    sentence over the tests of the flagged ``cells`` the board shows."""
    test = paired_test(cells)
    interval, name = DIFFERENCE_INTERVALS[test]
    return (text.replace("{interval}", interval).replace("{test}", name)
            .replace("{tests}", stats.fdr_sentence(BELOW, family_size(cells, COMPARISONS),
                                                   shows_p=True, test=test)))


def render_scaling(records_dir: Path, out_dir: Path) -> tuple[list[Path], pd.DataFrame]:
    """Write ``scaling.md`` and ``scaling.csv`` into ``out_dir`` from the records in
    ``records_dir``; returns the paths and the cells (for the figure)."""
    records = rec.load_records(records_dir)
    cells = scaling_cells(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    board = write_board("scaling", scaling_table(cells), study_records(records),
                        header(cells), out_dir)
    return board, cells
