"""A board set read from its committed records: the records, the boards ``uebench
leaderboard`` (or ``uebench scaling``) renders from them, and the curve cells behind them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from uebench.results import records as rec
from uebench.results.curves import curve_table
from uebench.results.leaderboard import boards as render_boards
from uebench.results.records import Record
from uebench.results.scaling import header as scaling_header
from uebench.results.scaling import scaling_cells, scaling_table, study_records
from uebench.site.boards import BoardSet


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


def load(board_set: BoardSet) -> LoadedSet:
    """Read ``board_set``'s records and render its boards in memory (nothing is written)."""
    records = rec.load_records(board_set.records)
    if board_set.kind == "scaling":
        records = study_records(records)
        cells = scaling_cells(records)
        return LoadedSet(board_set, records, {"scaling": scaling_table(cells)},
                         {"scaling": scaling_header(cells)}, curve_table(records))
    boards = render_boards(records)
    return LoadedSet(board_set, records, {name: b.table for name, b in boards.items()},
                     {name: b.header for name, b in boards.items()}, curve_table(records))
