"""Write the site's generated pages into the MkDocs ``docs/`` folder: the board sets' pages,
the method pages with their curve figures and the report figures (``docs/leaderboard/``), and
the catalogue (``docs/catalogue/``). Both folders belong to the generator (ignored by git):
files it did not write this time are removed, and a file is rewritten only when its content
changed, so ``mkdocs serve`` does not rebuild in a loop."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from uebench.site import catalogue
from uebench.site.board_pages import board_page, figure_name, page_name, report_figures
from uebench.site.boards import SETS
from uebench.site.figures import method_figure
from uebench.site.load import LoadedSet, load
from uebench.site.method_pages import figure_file, index_page, method_page

LEADERBOARD = "leaderboard"
CATALOGUE = "catalogue"
GENERATED = (LEADERBOARD, CATALOGUE)
"""The folders of ``docs/`` the generator owns."""


def write_pages(sets: list[LoadedSet], staging: Path) -> None:
    """Write every generated file under ``staging`` (laid out as in ``docs/``)."""
    board_dir, figures = staging / LEADERBOARD, staging / LEADERBOARD / "figures"
    (board_dir / "methods").mkdir(parents=True)
    figures.mkdir()
    methods: dict[str, list[str]] = {}
    drawn: set[str] = set()
    board_sets = [s for s in sets if s.board_set.kind == "leaderboard"]
    for loaded in board_sets:  # a method's page covers the leaderboard sets
        slug = loaded.board_set.slug
        for method in sorted({r["spec"]["method"] for r in loaded.records}):
            methods.setdefault(method, []).append(slug)
            file = figure_file(method, slug)
            if method_figure(loaded.cells, method, figures / file,
                             f"{method}, {loaded.board_set.title}"):
                drawn.add(file)
    for loaded in sets:
        slug = loaded.board_set.slug
        (board_dir / page_name(slug)).write_text(board_page(loaded, set(methods)))
        for source in report_figures(loaded):
            shutil.copyfile(source, figures / figure_name(slug, source))
    for method in methods:
        (board_dir / "methods" / f"{method}.md").write_text(
            method_page(method, board_sets, drawn))
    (board_dir / "methods" / "index.md").write_text(index_page(methods))
    (staging / CATALOGUE).mkdir()
    (staging / CATALOGUE / "index.md").write_text(catalogue.index_page())
    for name, page in catalogue.PAGES.items():
        (staging / CATALOGUE / name).write_text(page())


def sync(staging: Path, docs: Path) -> list[Path]:
    """Make ``docs``'s generated folders equal ``staging``'s, touching only what changed;
    returns the files written."""
    written = []
    for folder in GENERATED:
        fresh = {p.relative_to(staging) for p in (staging / folder).rglob("*") if p.is_file()}
        target = docs / folder
        if target.exists():
            for old in [p for p in target.rglob("*") if p.is_file()]:
                if old.relative_to(docs) not in fresh:
                    old.unlink()
        for relative in sorted(fresh):
            source, dest = staging / relative, docs / relative
            if dest.exists() and dest.read_bytes() == source.read_bytes():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
            written.append(dest)
    return written


def generate(docs: Path) -> list[Path]:
    """Write the generated pages into ``docs``; returns the files that changed."""
    sets = [load(board_set) for board_set in SETS]
    with tempfile.TemporaryDirectory() as tmp:
        write_pages(sets, Path(tmp))
        return sync(Path(tmp), docs)
