"""The partial-protection curve: what a protection does when only a share F of the training
cases is protected and the rest stay clean (an attacker pooling the release with data of their
own; APBench's poison-ratio axis). One point per protected fraction: the cells of the
``partial:fraction=F`` defense columns, with the undefended column as F = 1. Built on
``curves.curve_table``'s cells, so intervals, the paired test against the matched random-roi
at the same F, and the surrogate mark follow the same rules as every other board.
"""

from __future__ import annotations

import pandas as pd

from uebench.contracts import registry
from uebench.contracts.registry import UnknownNameError
from uebench.results.records import REFERENCE
from uebench.runner.defense_chain import NONE, DefenseChain

SITE = ["dataset", "preset", "victim", "method", "budget_label"]
PARTIAL = "partial"


def protected_fraction(defense: str) -> float | None:
    """F of a defense column that is partial protection alone (``none``: 1.0); None for any
    other column, partial combined with another defense included."""
    if defense == NONE:
        return 1.0
    try:
        chain = DefenseChain(defense)
    except UnknownNameError:  # a plugin not installed here: not this board's column
        return None
    parts = chain.data + chain.training
    partial = registry.defenses.get(PARTIAL)  # the column at_fractions writes for F < 1
    return parts[0].fraction if len(parts) == 1 and isinstance(parts[0], partial) else None


def partial_table(cells: pd.DataFrame) -> pd.DataFrame:
    """From ``curve_table``'s ``cells``: one row per (site, F), F ascending, for the protected
    sites (not the clean reference) measured at some F < 1; empty when there are none."""
    if cells.empty:
        return cells
    protected = cells[cells["role"] != REFERENCE]
    cells = protected.assign(fraction=[protected_fraction(d) for d in protected["defense"]]
                             ).dropna(subset="fraction")
    partial_sites = cells.loc[cells["fraction"] < 1.0, SITE].drop_duplicates()
    curve = cells.merge(partial_sites, on=SITE)
    return curve.sort_values(["dataset", "preset", "victim", "budget", "method", "fraction"],
                             kind="stable").reset_index(drop=True)
