"""The built documentation site in a real browser (the system's headless Chromium, driven by
Playwright; no browser is downloaded): every page loads with no console error, no failed or
off-site request and no broken image or internal link; a leaderboard table sorts when its
header is clicked and filters; a method page and each study's page show their figures.
Skipped, saying why, where Chromium, Playwright or MkDocs is missing; CI (.ci/run) installs
them. ``$UEBENCH_SITE`` names an already built site (``make docs`` builds one in ``site/``)
instead of building one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from uebench.site.boards import SETS
from uebench.site.preview import serve
from uebench.site.screenshot import SHOTS, VIEWPORT, launch, missing, shoot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent


def _mkdocs_missing() -> str | None:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        return "mkdocs is not installed (pip install -e '.[docs]')"
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    reason = missing() or _mkdocs_missing()
    if reason:
        pytest.skip(f"browser tests need Chromium and the docs extra: {reason}")
    built = os.environ.get("UEBENCH_SITE")
    if built:
        return Path(built)
    out = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                    "--site-dir", str(out)], cwd=ROOT, check=True,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return out


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with serve(site) as base, sync_playwright() as p:
        chromium = launch(p)
        yield chromium, base
        chromium.close()


def pages(site: Path) -> list[str]:
    """Every page of the built site, as a path relative to its root ('' for the home)."""
    return sorted(str(p.parent.relative_to(site)).replace(".", "", 1) + "/"
                  if p.parent != site else "" for p in site.rglob("index.html"))


def test_every_page_loads_cleanly(site, browser):
    chromium, base = browser
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a request cut short by the next navigation is aborted, not failed (a missing file is a
    # 404 response, caught below)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.on("request", lambda r: problems.append(f"off-site request: {r.url}")
            if not r.url.startswith(base) and not r.url.startswith("data:") else None)
    links: set[str] = set()
    visited = pages(site)
    assert len(visited) > 40, f"only {len(visited)} pages built"
    for path in visited:
        before = len(problems)
        page.goto(base + path, wait_until="load")
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                   ".map(i => i.src)")
        problems += [f"broken image on /{path}: {src}" for src in broken]
        links.update(page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"))
        problems[before:] = [f"/{path}: {p}" for p in problems[before:]]
    for link in sorted(links):
        target, _ = urldefrag(link)
        if not target.startswith(base):
            continue
        relative = urlparse(target).path.lstrip("/")
        file = site / relative
        if not (file.is_file() or (file / "index.html").is_file()):
            problems.append(f"missing link target: {link}")
    assert not problems, "\n".join(problems[:40])


def _column(page, table: str, header: str) -> list[float]:
    return page.eval_on_selector(
        f'table[data-ue-table="{table}"]',
        """(t, header) => {
            const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === header);
            return Array.from(t.tBodies[0].rows).filter(r => !r.hidden)
                .map(r => r.cells[i].getAttribute("data-sort"))
                .filter(v => v !== null).map(Number);
        }""", header)


def test_leaderboard_table_sorts_on_header_click(browser):
    chromium, base = browser
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(base + "leaderboard/", wait_until="load")
    header = page.locator('table[data-ue-table="efficacy"] th', has_text="protected_dsc").first
    header.click()
    ascending = _column(page, "efficacy", "protected_dsc")
    assert len(ascending) > 10 and ascending == sorted(ascending)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = _column(page, "efficacy", "protected_dsc")
    assert descending == sorted(ascending, reverse=True)


def test_leaderboard_table_filters(browser):
    chromium, base = browser
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(base + "leaderboard/", wait_until="load")
    table = 'table[data-ue-table="curves"]'
    total = page.locator(f"{table} tbody tr").count()
    bar = '.ue-filters[data-for="curves"]'
    page.select_option(f'{bar} select[data-filter="method"]', "voxshield")
    methods = page.eval_on_selector(
        table, "t => Array.from(t.tBodies[0].rows).filter(r => !r.hidden)"
               ".map(r => r.cells[4].textContent)")
    assert methods and set(methods) == {"voxshield"} and len(methods) < total
    page.select_option(f'{bar} select[data-filter="method"]', "")
    page.fill(f'{bar} input[type="search"]', "em")
    shown = page.eval_on_selector(
        table, "t => Array.from(t.tBodies[0].rows).filter(r => !r.hidden)"
               ".map(r => r.textContent)")
    assert shown and all("em" in row for row in shown) and len(shown) < total


def test_method_page_shows_its_figure(browser):
    chromium, base = browser
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(base + "leaderboard/methods/voxshield/", wait_until="load")
    figure = page.locator('img[src*="curve-voxshield-main.png"]')
    assert figure.count() == 1
    assert figure.evaluate("i => i.complete && i.naturalWidth") > 300
    figure.scroll_into_view_if_needed()
    assert figure.is_visible() and figure.bounding_box()["height"] > 200


@pytest.mark.parametrize("slug", [s.slug for s in SETS if s.kind != "leaderboard"])
def test_study_page_shows_its_figure(browser, slug):
    """The scale study's, the recipe walk's and the ablation's pages show their figures."""
    chromium, base = browser
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(base + f"leaderboard/{slug}/", wait_until="load")
    figures = page.locator(f'img[src*="figures/{slug}-"]')
    assert figures.count() >= 1
    for i in range(figures.count()):
        assert figures.nth(i).evaluate("i => i.complete && i.naturalWidth") > 300


def test_screenshots(browser, tmp_path):
    written = shoot(*browser, tmp_path)
    assert [p.name for p in written] == list(SHOTS)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
