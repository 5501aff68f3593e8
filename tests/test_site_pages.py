"""The site's generated pages hold what the committed records hold: each board page's tables
are, cell for cell, the committed Markdown boards (which tests/test_leaderboards_committed.py
checks against the records), every method page lists every record of its method and shows
its curve, and the catalogue lists every registered plugin."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from uebench.contracts import registry
from uebench.site.board_pages import figure_name, page_name
from uebench.site.boards import ROOT, SETS
from uebench.site.build import GENERATED, generate, sync
from uebench.site.html_table import cell_text, rows, sort_key
from uebench.site.method_pages import figure_file


class _Tables(HTMLParser):
    """Every ``<table data-ue-table=NAME>`` of a page: NAME -> rows of cell text (header
    first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._name: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and "data-ue-table" in attributes:
            self._name = attributes["data-ue-table"]
            self.tables[self._name] = []
        elif self._name and tag == "tr":
            self.tables[self._name].append([])
        elif self._name and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._name = None
        elif self._name and tag in ("td", "th") and self._cell is not None:
            self.tables[self._name][-1].append(html.unescape("".join(self._cell)))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page_tables(text: str) -> dict[str, list[list[str]]]:
    """The leaderboard tables of a generated page."""
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def markdown_table(path: Path) -> list[list[str]]:
    """The cells of the table of a committed Markdown board (header first)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for i, line in enumerate(lines) if i != 1]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    generate(out)
    return out


@pytest.mark.parametrize("board_set", SETS, ids=[s.slug for s in SETS])
def test_board_pages_show_the_committed_boards(docs, board_set):
    page = docs / "leaderboard" / page_name(board_set.slug)
    tables = page_tables(page.read_text())
    committed = sorted(p.stem for p in (ROOT / board_set.boards).glob("*.md")
                       if p.stem not in ("README",))
    assert sorted(tables) == committed, f"{page} shows other boards than {board_set.boards}"
    for name, cells in tables.items():
        assert cells == markdown_table(ROOT / board_set.boards / f"{name}.md"), (
            f"{page}: table {name} differs from {board_set.boards}/{name}.md")


@pytest.mark.parametrize("board_set", SETS, ids=[s.slug for s in SETS])
def test_board_pages_show_every_committed_figure(docs, board_set):
    page = (docs / "leaderboard" / page_name(board_set.slug)).read_text()
    folder = ROOT / board_set.boards
    committed = [*folder.glob("*.png"), *(folder / "report").glob("*.png")]
    for source in committed:
        name = figure_name(board_set.slug, source)
        assert f"](figures/{name})" in page, f"{source} is not on {board_set.slug}'s page"
        copied = docs / "leaderboard" / "figures" / name
        assert copied.read_bytes() == source.read_bytes()


def test_method_pages_list_every_record_and_show_the_curve(docs):
    from uebench.results import records as rec

    methods_dir = docs / "leaderboard" / "methods"
    for board_set in [s for s in SETS if s.kind == "leaderboard"]:
        for record in rec.load_records(board_set.records):
            method = record["spec"]["method"]
            page = methods_dir / f"{method}.md"
            assert page.exists(), f"no page for {method}"
            tables = page_tables(page.read_text())
            run_ids = [row[0] for row in tables[f"records-{board_set.slug}"][1:]]
            assert record["run_id"] in run_ids, f"{page} lacks {record['run_id']}"
    main = next(s for s in SETS if s.slug == "main")
    figure = docs / "leaderboard" / "figures" / figure_file("voxshield", main.slug)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figures/{figure.name}" in (methods_dir / "voxshield.md").read_text()


def test_method_pages_answer_as_the_curves_board(docs):
    """Each "does it work here?" row says below random-roi exactly where the committed curves
    board marks the cell ↓."""
    checked = 0
    for board_set in [s for s in SETS if s.kind == "leaderboard"]:
        header, *rows = markdown_table(ROOT / board_set.boards / "curves.md")
        marked = {(*row[:5], eps): "↓" in row[i] for row in rows
                  for i, eps in enumerate(header) if i >= 5 and row[i]}
        for page in (docs / "leaderboard" / "methods").glob("*.md"):
            glance = page_tables(page.read_text()).get(f"glance-{board_set.slug}")
            for row in (glance or [])[1:]:
                dataset, preset, victim, eps = row[:4]
                below = row[glance[0].index("below_random_roi")]
                key = (dataset, preset, victim, "none", page.stem, eps)
                assert marked[key] == (below == "yes"), f"{page.name}: {key}"
                checked += 1
    assert checked > 20, f"only {checked} rows answer 'does it work here?'"


def test_catalogue_lists_every_registered_plugin(docs):
    pages = {kind: (docs / "catalogue" / f"{kind}.md").read_text()
             for kind in ("methods", "victims", "datasets", "defenses", "presets")}
    for name in registry.methods.names():
        assert f"## {name} {{#{name}}}" in pages["methods"]
    for name in registry.defenses.names():
        assert f"## {name} {{#defense-{name}}}" in pages["defenses"]
    for kind, reg in [("victims", registry.victims), ("datasets", registry.datasets),
                      ("presets", registry.presets)]:
        for name in reg.names():
            assert f"| `{name}` |" in pages[kind], f"{name} missing from the {kind} page"


def test_sync_rewrites_only_what_changed_and_drops_stale_files(tmp_path):
    staging, docs = tmp_path / "staging", tmp_path / "docs"
    for folder in GENERATED:
        (staging / folder).mkdir(parents=True)
        (staging / folder / "page.md").write_text(f"{folder} page")
    assert sorted(p.name for p in sync(staging, docs)) == ["page.md", "page.md"]
    (docs / GENERATED[0] / "stale.md").write_text("left over")
    (staging / GENERATED[1] / "page.md").write_text("changed")
    assert sync(staging, docs) == [docs / GENERATED[1] / "page.md"]
    assert not (docs / GENERATED[0] / "stale.md").exists()
    assert (docs / GENERATED[1] / "page.md").read_text() == "changed"


@pytest.mark.parametrize("text, key", [("0.362 [0.049, 0.688] ↓ 44% (3s)", 0.362),
                                       ("32/255", 32 / 255), ("> 32/255", 32 / 255 + 1e-9),
                                       ("-0.065 [-0.180, +0.082]", -0.065), ("none", None)])
def test_sort_keys(text, key):
    assert sort_key(text) == pytest.approx(key) if key is not None else sort_key(text) is None


def test_a_column_of_numeric_strings_is_formatted_as_tabulate_formats_it():
    """tabulate reads "0.880" as a number and prints 0.88; a column with text stays text."""
    table = pd.DataFrame({"numbers": ["0.880", "0.854"], "text": ["0.880", "n/a"]})
    assert rows(table) == [["0.88", "0.880"], ["0.854", "n/a"]]
    assert [[c.strip() for c in line.strip("|").split("|")]
            for line in table.to_markdown(index=False, floatfmt=".4g",
                                          missingval="").splitlines()[2:]] == rows(table)
    assert rows(pd.DataFrame({"numbers": ["0.880", None]})) == [["0.88"], [""]]


def test_cells_are_formatted_as_the_markdown_boards():
    assert [cell_text(v) for v in (None, float("nan"), 3, 0.12345678, 1e-05, "4/255",
                                   " (3 never)")] == [
        "", "", "3", "0.1235", "1e-05", "4/255", "(3 never)"]
