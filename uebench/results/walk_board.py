"""The recipe walk's board: at each step from the authors' victim recipe to uebench's
(``uebench.contracts.walk.STEPS``), each method's protected-trained DSC and its paired
difference to the matched random-roi and to the clean-trained victim, with intervals and p.

Built on ``curves.curve_table``'s cells and rendered as the scaling board renders its axes
(``scaling.scaling_table``), so intervals, the paired test and the surrogate mark follow the
same rules as every other board; the axis is the walk and its value the step. Its ↓, against
random-roi and against clean-trained, are one family (``curves.flag_below``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uebench.contracts.walk import STEPS, WALK_BASE
from uebench.results import records as rec
from uebench.results.ablation_board import saturation_boards, write_boards
from uebench.results.curves import curve_table, flag_below
from uebench.results.leaderboard import Board
from uebench.results.records import Record
from uebench.results.scaling import COMPARISONS, header, scaling_table
from uebench.results.scaling import HEADER as SCALING_HEADER

AXIS = "recipe walk"
PRESETS = {preset: index for index, (_, _, preset) in enumerate(STEPS)}


class WalkError(ValueError):
    """Records that hold no cell of the walk."""


def walk_records(records: list[Record]) -> list[Record]:
    """The records whose preset is a step of the walk."""
    return [r for r in records if r["spec"]["preset"] in PRESETS]


def walk_cells(records: list[Record]) -> pd.DataFrame:
    """``curve_table``'s cells at the L-inf budgets for the records of the walk's presets,
    each with its ``step`` (the factor moved to uebench's) and ``step_index``, in method,
    budget and step order, flagged over the board's tests (``flag_below``, both
    comparisons); ``WalkError`` when none is a walk record."""
    walked = walk_records(records)
    cells = curve_table(walked) if walked else pd.DataFrame()
    if not cells.empty:
        cells = cells[cells["budget"].notna()]
    if cells.empty:
        raise WalkError(f"no recipe-walk records: none is of a walk preset "
                        f"({', '.join(PRESETS)})")
    rec.single_protocol(walked)
    rec.single_device_kind(walked)
    cells = cells.assign(step_index=cells["preset"].map(PRESETS),
                         step=cells["preset"].map(lambda p: STEPS[PRESETS[p]][0]),
                         recipe=cells["preset"].map(lambda p: STEPS[PRESETS[p]][1]),
                         axis=AXIS)
    cells["value"] = cells["step"]
    order = ["dataset", "victim", "defense", "method", "budget", "step_index"]
    return flag_below(cells.sort_values(order, kind="stable").reset_index(drop=True),
                      COMPARISONS)


HEADER = (
    f"The recipe walk: {WALK_BASE} under each recipe from the VoxShield authors' ('authors': "
    "ReLU victim, no augmentation, Adam betas (0.9, 0.9999) with weight decay 5e-4 on "
    "weights, the epoch of the lowest loss on the protected val split, VoxShield's fixed "
    "reference schedule) to uebench's, one factor at a time, each step keeping the earlier "
    "ones: " + " -> ".join(f"{step} ({preset})" for step, _, preset in STEPS)
    + ". value = the step (the factor just moved to uebench's). Columns as the scale study's: "
    + SCALING_HEADER.split("Per axis point, method and budget: ", 1)[1]
)


def walk_boards(records: list[Record], cells: pd.DataFrame) -> dict[str, Board]:
    """The walk board of ``cells`` (``walk_cells``) and VoxShield's per-epoch saturation at
    each step (``ablation_board.saturation_boards``) of the walk's ``records``
    (``walk_records``), each with its header: what ``render_walk`` writes and the
    documentation site shows."""
    return {"walk": Board(scaling_table(cells), header(cells, HEADER)),
            **saturation_boards(records)}


def render_walk(records_dir: Path, out_dir: Path) -> tuple[list[Path], pd.DataFrame]:
    """Write ``walk.md`` and ``walk.csv``, and VoxShield's per-epoch saturation at each step
    (``saturation.md``/``.csv``), into ``out_dir`` from the records in ``records_dir``;
    returns the paths and the cells (for the figure)."""
    records = rec.load_records(records_dir)
    cells = walk_cells(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    walked = walk_records(records)
    return write_boards(walk_boards(walked, cells), walked, out_dir), cells
