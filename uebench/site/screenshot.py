"""Photograph built site pages in the system's headless Chromium (Debian's ``chromium``,
driven by Playwright; no browser is downloaded): ``python -m uebench.site.screenshot SITE
OUT`` writes ``leaderboard.png`` (the main board) and ``method-voxshield.png`` into OUT, or
says why it cannot (no Chromium, no Playwright) and exits 0, so ``make docs`` works without
them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from uebench.site.preview import serve

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
"""Where Debian and Ubuntu put the browser; ``$CHROMIUM`` overrides."""

SHOTS = {"leaderboard.png": "leaderboard/",
         "method-voxshield.png": "leaderboard/methods/voxshield/"}
"""Screenshot file -> page (relative to the site root)."""

VIEWPORT = {"width": 1400, "height": 1000}


def chromium() -> str | None:
    """The system Chromium's path, or None when there is none."""
    wanted = os.environ.get("CHROMIUM")
    if wanted:
        return wanted if Path(wanted).exists() else None
    found = next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None)
    return found or shutil.which("chromium")


def missing() -> str | None:
    """Why the browser cannot be driven here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[docs]')"
    if chromium() is None:
        return ("no system Chromium (apt-get install chromium chromium-driver, or set "
                "$CHROMIUM)")
    return None


def launch(playwright: Any) -> Any:
    """The system Chromium, headless, started through ``playwright``."""
    return playwright.chromium.launch(executable_path=chromium(), headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])


def shoot(browser: Any, base: str, out: Path) -> list[Path]:
    """Screenshot ``SHOTS`` of the site served at ``base`` with a launched ``browser`` into
    ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    written = []
    for name, path in SHOTS.items():
        page.goto(base + path, wait_until="networkidle")
        page.screenshot(path=str(out / name))
        written.append(out / name)
    page.close()
    return written


def take(site: Path, out: Path) -> list[Path]:
    """Screenshot ``SHOTS`` of the built ``site`` into ``out``; returns the files written."""
    from playwright.sync_api import sync_playwright

    with serve(site) as base, sync_playwright() as p:
        browser = launch(p)
        try:
            return shoot(browser, base, out)
        finally:
            browser.close()


def main(argv: list[str]) -> None:
    """``SITE OUT``: take the screenshots, or print why not."""
    site, out = Path(argv[0]), Path(argv[1])
    reason = missing()
    if reason:
        print(f"screenshots skipped: {reason}")
        return
    for path in take(site, out):
        print(f"screenshot: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
