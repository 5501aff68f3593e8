"""A board set read from its committed records: the records, the boards its kind's command
(``uebench leaderboard``, ``scaling``, ``walk`` or ``ablation``) renders from them, and the
curve cells behind them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from uebench.results import records as rec
from uebench.results.ablation_board import ablation_boards, ablation_cells
from uebench.results.curves import curve_table
from uebench.results.leaderboard import Board
from uebench.results.leaderboard import boards as leaderboard_boards
from uebench.results.records import Record
from uebench.results.scaling import header as scaling_header
from uebench.results.scaling import scaling_cells, scaling_table, study_records
from uebench.results.walk_board import walk_boards, walk_cells, walk_records
from uebench.site.boards import BoardSet

Rendered = tuple[list[Record], dict[str, Board]]
"""The records a set's boards are of (its folder's, or those of its study) and the boards."""


def _scaling(records: list[Record]) -> Rendered:
    cells = scaling_cells(records)
    return study_records(records), {"scaling": Board(scaling_table(cells),
                                                     scaling_header(cells))}


def _walk(records: list[Record]) -> Rendered:
    walked = walk_records(records)
    return walked, walk_boards(walked, walk_cells(records))


@dataclass(frozen=True)
class Kind:
    """How a kind of board set is rendered: the command that writes its committed boards,
    and the same boards in memory from its records."""

    command: str
    render: Callable[[list[Record]], Rendered]


KINDS = {
    "leaderboard": Kind("uebench leaderboard", lambda r: (r, leaderboard_boards(r))),
    "scaling": Kind("uebench scaling", _scaling),
    "walk": Kind("uebench walk", _walk),
    "ablation": Kind("uebench ablation", lambda r: (r, ablation_boards(r, ablation_cells(r)))),
}
"""``BoardSet.kind`` -> how its boards are rendered."""


@dataclass
class LoadedSet:
    """A board set's records, boards (name -> table), each board's header, and the cells."""

    board_set: BoardSet
    records: list[Record]
    boards: dict[str, pd.DataFrame]
    headers: dict[str, str]
    cells: pd.DataFrame

    @property
    def protocol(self) -> int:
        """The protocol the set's records were made under."""
        return rec.single_protocol(self.records)

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda``: the kind of device the victims trained on."""
        return rec.single_device_kind(self.records)

    @property
    def command(self) -> str:
        """The command that renders the set's committed boards."""
        return KINDS[self.board_set.kind].command


def load(board_set: BoardSet) -> LoadedSet:
    """Read ``board_set``'s records and render its boards in memory (nothing is written)."""
    records, boards = KINDS[board_set.kind].render(rec.load_records(board_set.records))
    return LoadedSet(board_set, records, {name: b.table for name, b in boards.items()},
                     {name: b.header for name, b in boards.items()}, curve_table(records))
