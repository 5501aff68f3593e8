"""One page per method: what it is (from the registry), and for each board set that holds it
its curve figure with intervals, its rows of the curves, defense, partial and fidelity boards,
the deviations its records state, and the records behind it with their surrogate state."""

from __future__ import annotations

import html

import pandas as pd

from uebench.contracts import registry
from uebench.results import records as rec
from uebench.results.curves import flag_below
from uebench.results.leaderboard import curves_board_cells, interval_text
from uebench.results.records import Record
from uebench.site.board_pages import page_name
from uebench.site.html_table import html_table
from uebench.site.load import LoadedSet

METHOD_BOARDS = ("curves", "defenses", "partial", "fidelity")
"""The boards whose rows a method page repeats (filtered to the method)."""


def figure_file(method: str, slug: str) -> str:
    """The file name (in ``figures/``) of ``method``'s curve on board set ``slug``."""
    return f"curve-{method}-{slug}.png"


def summary(method: str) -> str:
    """The method's one-line summary from the registry ('' when it is not registered)."""
    try:
        cls = registry.methods.get(method)
    except KeyError:
        return ""
    text = getattr(cls, "summary", "") or (cls.__doc__ or "").strip()
    return text.splitlines()[0] if text else ""


def glance_table(cells: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per undefended cell of ``method``: its protected-trained DSC, the matched random-roi's
    difference, one-sided p and its q, whether it lies below that control (the curves board's
    ↓, by q over that board's tests) and the clean-trained reference; the answer to "does it
    work at this budget"."""
    flagged = flag_below(curves_board_cells(cells))
    mine = flagged[(flagged["method"] == method) & (flagged["defense"] == "none")
                   ].sort_values(["dataset", "preset", "victim", "budget"])
    return pd.DataFrame({
        "dataset": mine["dataset"], "preset": mine["preset"], "victim": mine["victim"],
        "epsilon": mine["budget_label"], "seeds": mine["seeds"],
        "protected_dsc_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                               zip(mine["dsc_mean"], mine["dsc_lo"], mine["dsc_hi"])],
        "minus_random_roi_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                                  zip(mine["diff_mean"], mine["diff_lo"], mine["diff_hi"])],
        "p_below_random_roi": mine["p_below_control"].round(4),
        "q_below_random_roi": mine["q_below_control"].round(4),
        "below_random_roi": ["" if pd.isna(p) else ("yes" if b else "no")
                             for p, b in zip(mine["p_below_control"], mine["below_control"])],
        "clean_trained_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                               zip(mine["clean_mean"], mine["clean_lo"], mine["clean_hi"])],
    }).reset_index(drop=True)


def records_table(records: list[Record]) -> pd.DataFrame:
    """One row per record: its cell, seed, DSCs, surrogate state and provenance."""
    rows = []
    for r in sorted(records, key=lambda r: (rec.cell(r), r["spec"]["seed"], r["run_id"])):
        cell, state = rec.cell(r), rec.surrogate(r)
        eff, env = r["efficacy"], r.get("environment", {})
        rows.append({
            "run_id": r["run_id"], "dataset": cell.dataset, "preset": cell.preset,
            "victim": cell.victim, "defense": cell.defense, "epsilon": cell.budget,
            "seed": r["spec"]["seed"],
            "clean_dsc": eff["clean_trained"]["dsc_fg_mean"],
            "protected_dsc": eff["protected_trained"]["dsc_fg_mean"],
            "surrogate_updates": state["updates"] if state else None,
            "surrogate_train_dsc": state["train_dsc"] if state else None,
            "reached_fit_dsc": ("yes" if state["reached_fit_dsc"] else "no †") if state else "",
            "git_commit": (env.get("git_commit") or "")[:7],
            "git_dirty": env.get("git_dirty"),
            "cpu_model": env.get("cpu_model") or "",
        })
    return pd.DataFrame(rows)


def deviations(records: list[Record]) -> list[str]:
    """The distinct ``method.deviations`` texts of ``records``, in order of appearance."""
    return list(dict.fromkeys(t for r in records if (t := r["method"].get("deviations"))))


def method_role(loaded: LoadedSet, method: str) -> str:
    """The role the set's records give ``method`` (``protection``, a control, ``reference``)."""
    return next(rec.role(r) for r in loaded.records if r["spec"]["method"] == method)


def _section(method: str, loaded: LoadedSet, has_figure: bool) -> list[str]:
    bs = loaded.board_set
    own = [r for r in loaded.records if r["spec"]["method"] == method]
    lines = [f"## {bs.title}", "",
             f"{len(own)} records in `{bs.boards}/records/`; the whole board: "
             f"[{bs.title}](../{page_name(bs.slug)}).", ""]
    if has_figure:
        lines += [f"![{method}: protected-trained DSC against the budget, {bs.title}]"
                  f"(../figures/{figure_file(method, bs.slug)})", "",
                  "Protected-trained DSC (mean over seeds, 95 % hierarchical bootstrap "
                  "interval shaded) against the L-inf budget, undefended; dotted: the matched "
                  "random-roi control; grey band: the clean-trained interval.", ""]
    glance = glance_table(loaded.cells, method)
    if not glance.empty and method_role(loaded, method) == "protection":
        lines += ["### Does it work here?", "",
                  "Each undefended cell: below_random_roi = below the matched random-roi "
                  "control by the one-sided paired test at a Benjamini-Hochberg false "
                  "discovery rate of 5 % over the curves board's tests (q < 0.05; p raw, q "
                  "adjusted; at least 3 shared seeds, blank with fewer): the curves board's "
                  "↓.", "",
                  html_table(glance, f"glance-{bs.slug}"), ""]
    for name in METHOD_BOARDS:
        board = loaded.boards.get(name)
        if board is None or "method" not in board.columns:
            continue
        mine = board[board["method"] == method]
        if mine.empty:
            continue
        table = html_table(mine.reset_index(drop=True), f"{name}-{bs.slug}")
        lines += [f"### {name}", "", table, ""]
    lines += ["### Records and surrogate state", "",
              "Each record behind these rows (`run_id`.json in the records folder); "
              "surrogate columns are blank for methods without a surrogate.", "",
              html_table(records_table(own), f"records-{bs.slug}"), ""]
    texts = deviations(own)
    if texts:
        lines += ["### Deviations, as the records state them", ""]
        lines += [f"<details><summary>deviations text {i + 1} of {len(texts)}</summary>"
                  f"<p>{html.escape(text)}</p></details>\n" for i, text in enumerate(texts)]
    return lines


def method_page(method: str, sets: list[LoadedSet], figures: set[str]) -> str:
    """The Markdown of ``method``'s page over the board sets that hold it; ``figures`` names
    the curve figures that were drawn."""
    line = summary(method)
    lines = ["---", "hide:", "  - toc", "---", "", f"# {method}", "", *([line, ""] if line else []),
             f"Its parameters and support: [the catalogue](../../catalogue/methods.md#{method})."
             " Every number below is rendered from committed records.", ""]
    for loaded in sets:
        if any(r["spec"]["method"] == method for r in loaded.records):
            lines += _section(method, loaded,
                              figure_file(method, loaded.board_set.slug) in figures)
    return "\n".join(lines) + "\n"


def index_page(methods: dict[str, list[str]]) -> str:
    """The list of method pages: each method with the board sets that hold it."""
    lines = ["# Methods on the boards", "",
             "One page per method that has committed records: its curve, defense rows, "
             "fidelity, deviations, surrogate state and the records behind them.", "",
             "| method | summary | board sets |", "|---|---|---|"]
    lines += [f"| [{m}]({m}.md) | {summary(m)} | {', '.join(slugs)} |"
              for m, slugs in sorted(methods.items())]
    return "\n".join(lines) + "\n"
