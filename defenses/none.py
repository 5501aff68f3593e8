"""``none``: the data and the training as released (the undefended column of every board)."""

from __future__ import annotations

from uebench.contracts.core import Defense
from uebench.contracts.registry import register_defense


@register_defense("none")
class NoDefense(Defense):
    summary = "train on the data as released"

    def apply(self, image, label, rng):
        return image, label
