"""The defense board: does a protection survive an attacker who knows it is there?

For every protected cell (dataset, preset, victim, method, budget) that was also trained under
at least one defense, one row per defense: the protected-trained DSC under that defense with
its interval, what the same defense costs a victim trained on clean data (the reference method,
``clean``, under that defense, same budget column), and the undefended clean-trained interval.
A defense *breaks* a protection when it restores the protected-trained DSC to within the
clean-trained interval (mean >= its lower bound); it *neutralises* it when the protected-trained
DSC under it reaches the interval of clean data under the same defense (the protection adds
nothing to what the defense itself costs). Built on ``curves.curve_table``'s cells (passed in,
computed once per board), so intervals and seeds follow the same rules as every other board.
"""

from __future__ import annotations

import pandas as pd

from uebench.results.records import REFERENCE
from uebench.runner.defense_chain import NONE

BREAKS_RULE = ("breaks: the protected-trained DSC under the defense reaches the clean-trained "
               "interval (mean >= its lower bound); neutralises: it reaches the interval of "
               "clean data trained under the same defense")
SITE = ["dataset", "preset", "victim", "budget_label"]


def defense_table(cells: pd.DataFrame) -> pd.DataFrame:
    """From ``curve_table``'s ``cells``: one row per (cell, defense), undefended first, for
    cells that met some defense."""
    if cells.empty:
        return cells
    defended = cells[cells["defense"] != NONE]
    sites = defended[SITE + ["method"]].drop_duplicates()
    rows = []
    for site in sites.itertuples(index=False):
        same_site = cells[(cells["dataset"] == site.dataset) & (cells["preset"] == site.preset)
                          & (cells["victim"] == site.victim)
                          & (cells["budget_label"] == site.budget_label)]
        for cell in same_site[same_site["method"] == site.method].itertuples(index=False):
            on_clean = same_site[(same_site["role"] == REFERENCE)
                                 & (same_site["defense"] == cell.defense)]
            judged = cell.role != REFERENCE and cell.defense != NONE
            rows.append({
                "dataset": cell.dataset, "preset": cell.preset, "victim": cell.victim,
                "method": cell.method, "epsilon": cell.budget_label, "defense": cell.defense,
                "seeds": cell.seeds, "dsc_mean": cell.dsc_mean, "dsc_lo": cell.dsc_lo,
                "dsc_hi": cell.dsc_hi, "surrogate_short_seeds": cell.surrogate_short_seeds,
                "clean_data_mean": on_clean["dsc_mean"].iloc[0] if len(on_clean) else None,
                "clean_data_lo": on_clean["dsc_lo"].iloc[0] if len(on_clean) else None,
                "clean_data_hi": on_clean["dsc_hi"].iloc[0] if len(on_clean) else None,
                "clean_mean": cell.clean_mean, "clean_lo": cell.clean_lo,
                "clean_hi": cell.clean_hi,
                "breaks": bool(cell.dsc_mean >= cell.clean_lo) if judged else None,
                "neutralises": (bool(cell.dsc_mean >= on_clean["dsc_lo"].iloc[0])
                                if judged and len(on_clean) else None),
            })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["undefended"] = table["defense"] != NONE
    table = table.sort_values(["dataset", "preset", "victim", "epsilon", "method", "undefended",
                               "defense"], kind="stable")
    return table.drop(columns="undefended").reset_index(drop=True)
