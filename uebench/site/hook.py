"""The MkDocs hook (``hooks:`` in ``mkdocs.yml``): generate the leaderboard, method and
catalogue pages from the committed records and the registries before every build, so a
plain ``mkdocs build`` shows what the records and the code hold now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uebench.site.build import generate


def on_pre_build(config: Any, **_: Any) -> None:
    """Write the generated pages into the site's ``docs_dir``."""
    generate(Path(config["docs_dir"]))
