"""The transfer board: each protection's paired difference to the matched random-roi control
on every victim (APBench's cross-architecture axis; issue 32).

Each protection is made once, with its own surrogate, and every victim trains on it, so a row
reads across victims: where the difference stays below 0, the protection transfers to that
architecture. Built on ``curves.curve_table``'s cells (undefended, L-inf budgets, every method
but the clean-trained reference and the matched control itself), flagged over the board's own
tests (``curves.flag_below``). Rendered only for records of more than one victim, from
protocol 4 on (``TRANSFER_SINCE``: the boards of earlier protocols render as published).
"""

from __future__ import annotations

import pandas as pd

from uebench.results.curves import difference_text
from uebench.results.records import MATCHED_CONTROL, REFERENCE

TRANSFER_SINCE = 4
"""The first protocol whose boards include the transfer board."""
ROW = ["dataset", "preset", "method", "budget_label"]
"""A row of the board: one protection at one budget (the victims are its columns)."""


def transfer_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of ``curve_table`` the transfer board shows:
    undefended L-inf cells of every method but the reference and the matched control; empty
    when they span fewer than two victims."""
    shown = cells[(cells["defense"] == "none") & cells["budget"].notna()
                  & ~cells["role"].isin([REFERENCE, MATCHED_CONTROL])]
    return shown if shown["victim"].nunique() > 1 else shown.iloc[:0]


def transfer_table(flagged: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset, preset, method and budget, one column per victim: the paired
    difference to random-roi (``curves.difference_text``) of the flagged ``transfer_cells``, with
    the seeds of each row's cells (their minimum over victims)."""
    if flagged.empty:
        return pd.DataFrame()
    cells = flagged.assign(cell=[difference_text(row, "diff", "below_control")
                                 for _, row in flagged.iterrows()])
    ordered = cells.sort_values(["dataset", "preset", "method", "budget", "victim"])
    wide = ordered.pivot_table(index=ROW, columns="victim", values="cell", aggfunc="first",
                               sort=False)
    seeds = ordered.groupby(ROW, sort=False)["seeds"].min().rename("seeds")
    victims = sorted(cells["victim"].unique())
    return (wide[victims].join(seeds).reset_index()
            .rename(columns={"budget_label": "epsilon"}))
