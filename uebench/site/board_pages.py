"""One page per board set: every board of the set as a sortable, filterable table under the
header its Markdown board carries, links to the method pages, and the set's report figures."""

from __future__ import annotations

import html
from pathlib import Path

from uebench.results.leaderboard import DEVICE_TEXT
from uebench.site.boards import ROOT, SETS
from uebench.site.html_table import html_table
from uebench.site.load import LoadedSet

ORDER = ("grid", "curves", "eps50", "transfer", "defenses", "partial", "scaling", "walk",
         "ablation", "saturation", "efficacy", "fidelity", "throughput")
"""The boards in the order a page shows them: the overview first, the costs last (a board
not named here after these, in the order its set renders them)."""

HOW_TO_READ = ("Click a column's header to sort by it (again to reverse); pick values in the "
               "menus above a table or type in its box to filter its rows.")


def page_name(slug: str) -> str:
    """The page of the board set ``slug``, relative to the leaderboard folder."""
    return "index.md" if slug == "main" else f"{slug}.md"


def methods_of(loaded: LoadedSet) -> list[str]:
    """The methods with records in the set, sorted."""
    return sorted({r["spec"]["method"] for r in loaded.records})


def board_order(names: list[str]) -> list[str]:
    """``names`` in the order a page shows them (``ORDER``)."""
    return ([n for n in ORDER if n in names] + [n for n in names if n not in ORDER])


def report_figures(loaded: LoadedSet) -> list[Path]:
    """The set's committed figures (PNG): its board folder's own (a study's figure, made by
    its command's ``--figure``) and its report's (``uebench report``), sorted."""
    folder = ROOT / loaded.board_set.boards
    report = loaded.board_set.report
    return (sorted(folder.glob("*.png"))
            + (sorted(report.glob("*.png")) if report.is_dir() else []))


def figure_name(slug: str, source: Path) -> str:
    """Where the site keeps the committed figure ``source`` of set ``slug`` (in
    ``figures/``)."""
    return f"{slug}-{'report-' if source.parent.name == 'report' else ''}{source.name}"


def reading(header: str) -> str:
    """A board's header (what its columns and marks mean) as a collapsed HTML block."""
    return (f"<details><summary>How to read this board</summary><p>{html.escape(header)}</p>"
            "</details>")


def method_link(method: str, pages: set[str] | None) -> str:
    """A link to ``method``'s page, or its name where it has none (``pages``: the methods
    with a page; None: every method)."""
    return f"[{method}](methods/{method}.md)" if pages is None or method in pages else (
        f"`{method}`")


def figures_text(loaded: LoadedSet, figures: list[Path]) -> str:
    """Where the set's committed ``figures`` come from."""
    bs = loaded.board_set
    sources = []
    if any(f.parent.name != "report" for f in figures):
        sources.append(f"`{bs.boards}/*.png`, made by `{loaded.command} --figure`")
    if any(f.parent.name == "report" for f in figures):
        sources.append(f"its report's, `{bs.boards}/report/index.html`, made by "
                       "`uebench report`")
    return f"The committed figures of this set ({'; '.join(sources)})."


def board_page(loaded: LoadedSet, method_pages: set[str] | None = None) -> str:
    """The Markdown of the set's page; ``method_pages`` names the methods with a page (None:
    every method has one)."""
    bs = loaded.board_set
    others = " · ".join(f"[{s.title}]({page_name(s.slug)})" for s in SETS if s.slug != bs.slug)
    methods = ", ".join(method_link(m, method_pages) for m in methods_of(loaded))
    lines = ["---", "hide:", "  - toc", "---", "", f"# {bs.title}", "", bs.note, "",
             f"Protocol {loaded.protocol}, {DEVICE_TEXT[loaded.device]}. Rendered from the "
             f"{len(loaded.records)} committed records in `{bs.boards}/records/`; the same "
             f"boards as Markdown and CSV are `{bs.boards}/*.md` and `*.csv` "
             f"(`{loaded.command}`). " + HOW_TO_READ, "",
             f"Methods on this board: {methods}.", "", f"Other boards: {others}.", ""]
    for name in board_order(list(loaded.boards)):
        lines += [f"## {name}", "", reading(loaded.headers[name]), "",
                  html_table(loaded.boards[name], name), ""]
    figures = report_figures(loaded)
    if figures:
        lines += ["## Figures", "", figures_text(loaded, figures), ""]
        lines += [f"![{source.name}](figures/{figure_name(bs.slug, source)})\n"
                  for source in figures]
    return "\n".join(lines) + "\n"
