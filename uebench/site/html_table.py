"""A board (a pandas DataFrame) as an HTML table that ``docs/javascripts/tables.js`` makes
sortable (click a header) and filterable (a menu per site column and a text box).

Cells are formatted as ``uebench leaderboard`` formats the Markdown boards (tabulate with
``floatfmt=".4g"``, missing values blank), so a page and its Markdown board show the same
text; each cell also carries a numeric sort key (``data-sort``) read from its text.
"""

from __future__ import annotations

import html
import math
import re
from numbers import Integral, Real
from typing import Any

import pandas as pd

FILTER_COLUMNS = ("dataset", "preset", "victim", "defense", "method", "epsilon", "axis",
                  "value", "variant", "budget", "protected_fraction")
"""The columns a reader filters by, where a table has them."""

_FRACTION = re.compile(r"^([<>]\s*)?([-+]?\d+(?:\.\d+)?)/(\d+)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def cell_text(value: Any) -> str:
    """The text of one cell, as the Markdown boards show it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return format(float(value), ".4g")
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()  # as tabulate, which strips a cell's surrounding whitespace


def sort_key(text: str) -> float | None:
    """The number a cell sorts by: a budget ``a/b`` as its value (``> a/b`` just above it),
    else the first number in the text; None for text without a number."""
    stripped = text.strip()
    fraction = _FRACTION.match(stripped)
    if fraction:
        value = float(fraction.group(2)) / float(fraction.group(3))
        bound = (fraction.group(1) or "").strip()
        return value + (1e-9 if bound == ">" else -1e-9 if bound == "<" else 0.0)
    number = _NUMBER.search(stripped)
    return float(number.group()) if number else None


def _cell(text: str, tag: str = "td") -> str:
    key = sort_key(text) if tag == "td" else None
    sort = f' data-sort="{key:.12g}"' if key is not None else ""
    return f"<{tag}{sort}>{html.escape(text)}</{tag}>"


def _number(value: Any) -> float | None:
    """``value`` as tabulate reads a number: a real, or a string that ``float`` parses."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_tabulate_reads(column: pd.Series) -> pd.Series:
    """A column whose every value is a number or a numeric string (``"0.880"``) as numbers:
    tabulate formats such a column with ``floatfmt`` (``0.88``), not as the strings."""
    present = [v for v in column if v is not None]
    if not present or any(_number(v) is None for v in present):
        return column
    return column.map(lambda v: v if v is None or not isinstance(v, str) else _number(v))


def rows(table: pd.DataFrame) -> list[list[str]]:
    """The table's cells as text, row by row (the header not included)."""
    frame = table.astype(object).where(table.notna(), None).apply(_as_tabulate_reads)
    return [[cell_text(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def html_table(table: pd.DataFrame, board: str) -> str:
    """``table`` as one HTML block (no blank line inside, so Markdown passes it through):
    a ``<table data-ue-table>`` naming its board and the columns to filter by."""
    columns = [str(c) for c in table.columns]
    filters = ",".join(c for c in columns if c in FILTER_COLUMNS)
    head = "".join(_cell(c, "th") for c in columns)
    body = "\n".join("<tr>" + "".join(_cell(t) for t in row) + "</tr>" for row in rows(table))
    return (f'<table data-ue-table="{html.escape(board)}" data-filters="{filters}">\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")
