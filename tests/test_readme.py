"""The README stays short and its links resolve: at most 200 lines, the two set-up commands as
the Makefile and CI run them, and every relative link pointing at a committed file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_the_two_commands_are_the_makefiles_and_ci_runs_the_test_one():
    assert "make demo" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_every_relative_link_resolves():
    links = [link for link in re.findall(r"\]\(([^)#\s]+)", README)
             if not re.match(r"[a-z]+:", link)]
    assert links, "the README links nothing"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README links missing files: {missing}"
