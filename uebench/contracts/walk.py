"""The recipe walk: from the VoxShield authors' victim recipe and schedule to uebench's, one
factor at a time (``uebench.contracts.recipes.WALK``), each step a preset of its own at
``WALK_BASE`` so that ``uebench sweep`` runs it and the boards keep its cells apart.

``STEPS`` is the one table of (step, recipe, preset) that the presets, ``uebench sweep
--walk``, the walk board and its figure read. The last step is ``uebench``'s recipe, which
``WALK_BASE`` itself runs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from uebench.contracts.recipes import DEFAULT, WALK, WALK_STEPS

if TYPE_CHECKING:  # the table is read without torch (the boards); building presets needs it
    from uebench.contracts.core import Preset

WALK_BASE = "canary-e200"

STEPS: tuple[tuple[str, str, str], ...] = (
    ("authors", "authors", "walk-authors"),
    *((step, recipe.name, recipe.name)
      for (step, _), recipe in zip(WALK_STEPS[:-1], WALK[1:-1])),
    (WALK_STEPS[-1][0], DEFAULT, WALK_BASE),
)
"""(step, recipe, preset) in walk order: the step names the factor that moved to uebench's
(``authors``: none yet)."""


def walk_presets(base: Preset) -> list[tuple[Preset, str]]:
    """Every step's preset except the base itself (its last step), built from ``base`` with
    the step's recipe, each with the summary ``uebench list presets`` shows."""
    return [(dataclasses.replace(base, name=preset, recipe=recipe),
             f"recipe walk: {WALK_BASE} under recipe {recipe!r}")
            for _, recipe, preset in STEPS if preset != WALK_BASE]


def step_of(preset: str) -> int | None:
    """The walk step (0-based) ``preset`` runs, or None."""
    return next((i for i, (_, _, name) in enumerate(STEPS) if name == preset), None)
