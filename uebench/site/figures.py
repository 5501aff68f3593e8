"""A method's curve: protected-trained DSC against the L-inf budget, with 95 % intervals,
beside the matched random-roi control and the clean-trained reference (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from uebench.results.records import MATCHED_CONTROL  # noqa: E402

SITE = ["dataset", "preset", "victim"]


def curve_cells(cells: pd.DataFrame, method: str) -> pd.DataFrame:
    """``curve_table``'s undefended L-inf cells of ``method`` and of the matched control."""
    plain = cells[(cells["defense"] == "none") & cells["budget"].notna()]
    return plain[(plain["method"] == method) | (plain["role"] == MATCHED_CONTROL)]


def method_figure(cells: pd.DataFrame, method: str, path: Path, title: str) -> bool:
    """Draw ``method``'s undefended curve per (dataset, preset, victim) into ``path``: the
    protected-trained DSC with its interval (solid, shaded), the matched random-roi (dotted)
    and the clean-trained interval (a grey band). False, and nothing written, when the
    cells hold no undefended L-inf cell of the method."""
    shown = curve_cells(cells, method)
    own = shown[shown["method"] == method]
    if own.empty:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (site, group) in enumerate(own.groupby(SITE, sort=True)):
        colour = colours[i % len(colours)]
        group = group.sort_values("budget")
        label = "/".join(site)
        ax.plot(group["budget"] * 255, group["dsc_mean"], "o-", color=colour,
                label=f"{method}, {label}")
        ax.fill_between(group["budget"] * 255, group["dsc_lo"], group["dsc_hi"], color=colour,
                        alpha=0.2, linewidth=0)
        ax.errorbar(group["budget"] * 255, group["dsc_mean"],
                    yerr=[group["dsc_mean"] - group["dsc_lo"], group["dsc_hi"] - group["dsc_mean"]],
                    fmt="none", ecolor=colour, capsize=3, linewidth=1)
        control = shown[(shown["role"] == MATCHED_CONTROL)
                        & (shown[SITE].apply(tuple, axis=1) == site)].sort_values("budget")
        if not control.empty and method != control["method"].iloc[0]:
            ax.plot(control["budget"] * 255, control["dsc_mean"], "s:", color=colour,
                    alpha=0.8, label=f"random-roi, {label}")
        ax.axhspan(group["clean_lo"].iloc[0], group["clean_hi"].iloc[0], color="0.5",
                   alpha=0.12, linewidth=0)
    ax.set_xscale("log", base=2)
    budgets = sorted(set((own["budget"] * 255).round(6)))
    ax.set_xticks(budgets, [f"{b:g}/255" for b in budgets])
    ax.set_xlim(min(budgets) / 1.3, max(budgets) * 1.3)
    ax.set_ylim(0, 1)
    ax.set_xlabel("L-inf budget")
    ax.set_ylabel("protected-trained DSC")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return True
