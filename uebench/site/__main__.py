"""``python -m uebench.site [DOCS]``: write the site's generated pages into DOCS (default
``docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

from uebench.site.build import generate


def main(argv: list[str]) -> None:
    """Generate into ``argv[0]`` (default ``docs``) and say how many files changed."""
    docs = Path(argv[0] if argv else "docs")
    changed = generate(docs)
    print(f"uebench.site: {len(changed)} generated files changed under {docs}")


if __name__ == "__main__":
    main(sys.argv[1:])
