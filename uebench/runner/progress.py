"""Progress bars of dataset synthesis and loading that honour ``uebench run --quiet``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_disabled() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no bars, read NOW (``uebench run --quiet`` sets it).

    tqdm reads its ``TQDM_*`` variables once, when tqdm is imported (``torch.hub`` imports it
    with torch, before the CLI parses ``--quiet``), so the variable alone does not reach bars.
    """
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress(items: Iterable[T], desc: str) -> Iterator[T]:
    """``items`` under a transient tqdm bar, or bare when :func:`progress_disabled`."""
    return iter(tqdm(items, desc=desc, leave=False, disable=progress_disabled()))
