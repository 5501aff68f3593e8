"""Victim recipes: how an unauthorised user trains a victim, as named, recorded choices.

A recipe fixes what the preset's sizes and schedule leave open: the victim's activation (where
its network has one), the intensity augmentation, the optimiser's betas and weight decay (and
whether the decay spares biases and norm parameters), the model-selection rule, and the
schedule of the protections that have one (``schedule``: VoxShield's stop rule, read by its
defaults). A preset names its recipe (``Preset.recipe``); every record writes the recipe's
fields (``recipe``), and a cell's identity is its preset, so no board pools two recipes.

- ``uebench``: the harness's victim since protocol 1 (PReLU, intensity augmentation, Adam with
  default betas and the preset's weight decay, last epoch; protections stop by the shared fit
  rule).
- ``authors``: the VoxShield reference code's victim and generator schedule
  (../shared/spec/voxshield.md, "The victim of the reference code" and "The generator's
  schedule"): ReLU, no augmentation, Adam betas (0.9, 0.9999), weight decay 5e-4 on weights
  only, the model of lowest loss on the protected val split; VoxShield's fixed reference
  schedule.
- ``walk-*``: the recipe walk from ``authors`` to ``uebench``, one factor at a time, each step
  keeping the previous steps' changes (``WALK``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

ACTIVATIONS = ("prelu", "relu")
AUGMENTATIONS = ("intensity", "none")
SELECTIONS = ("last", "protected-val-loss")
SCHEDULES = ("fit-rule", "reference")


@dataclass(frozen=True)
class Recipe:
    """One way to train a victim (see the module docstring). ``weight_decay`` None: the
    preset's ``weight_decay``."""

    name: str
    activation: str = "prelu"
    augmentation: str = "intensity"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float | None = None
    decay_weights_only: bool = False
    selection: str = "last"
    schedule: str = "fit-rule"
    summary: str = ""

    def __post_init__(self) -> None:
        for field, allowed in (("activation", ACTIVATIONS), ("augmentation", AUGMENTATIONS),
                               ("selection", SELECTIONS), ("schedule", SCHEDULES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"recipe {self.name!r}: {field} must be one of "
                                 f"{', '.join(allowed)}; got {getattr(self, field)!r}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"recipe {self.name!r}: betas must lie in [0, 1)")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"recipe {self.name!r}: weight_decay must be >= 0")

    @property
    def protects_val(self) -> bool:
        """Whether the val split is protected too (the authors poison train + val and select
        the victim's epoch by its loss on the protected val split)."""
        return self.selection == "protected-val-loss"

    def to_dict(self, preset_weight_decay: float) -> dict[str, Any]:
        """The recipe's fields as the record writes them, its weight decay resolved."""
        values = dataclasses.asdict(self)
        values.pop("summary")
        values["betas"] = list(self.betas)
        values["weight_decay"] = (preset_weight_decay if self.weight_decay is None
                                  else self.weight_decay)
        return values


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` under its name (a plugin may add its own)."""
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``; a ``ValueError`` naming the close matches otherwise."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, RECIPES, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {name!r}.{hint} Known: {', '.join(RECIPES)}.")
    return RECIPES[name]


DEFAULT = "uebench"
register_recipe(Recipe(DEFAULT, summary="uebench's victim: PReLU, intensity augmentation, "
                                         "Adam, last epoch; protections stop by the fit rule"))
AUTHORS = register_recipe(Recipe(
    "authors", activation="relu", augmentation="none", betas=(0.9, 0.9999), weight_decay=5e-4,
    decay_weights_only=True, selection="protected-val-loss", schedule="reference",
    summary="the VoxShield reference code's victim and schedule: ReLU, no augmentation, "
            "Adam (0.9, 0.9999) with weight decay 5e-4 on weights, lowest protected val loss"))

# The walk from the authors' recipe to uebench's: (step, the field it moves, its new value),
# each step keeping the earlier ones; its last step is ``uebench`` itself.
WALK_STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("activation", {"activation": "prelu"}),
    ("augmentation", {"augmentation": "intensity"}),
    ("optimiser", {"betas": (0.9, 0.999), "weight_decay": None, "decay_weights_only": False}),
    ("schedule", {"schedule": "fit-rule"}),
    ("selection", {"selection": "last"}),
)


def _walk() -> list[Recipe]:
    steps, current = [AUTHORS], AUTHORS
    for step, changes in WALK_STEPS[:-1]:
        current = dataclasses.replace(current, name=f"walk-{step}", **changes,
                                      summary=f"the recipe walk: {current.name} with uebench's "
                                              f"{step}")
        steps.append(register_recipe(current))
    return [*steps, RECIPES[DEFAULT]]


WALK: tuple[Recipe, ...] = tuple(_walk())
"""The walk's recipes in order: ``authors``, ``walk-activation`` ... ``walk-schedule``,
``uebench``."""
