"""The scale study's axes: which preset measures each point, and how it differs from the base.

Each axis moves ONE preset field away from ``canary`` (the base point, on every axis): the
surrogate fit rule's cap (``surrogate_updates``), the victims' ``epochs``, the cube's edge
(``volume_size``) or the training split (``train-cases``). ``AXES`` is the one table of axis ->
ordered (value, preset name) points that the presets (registered by
``uebench.contracts.presets``), the scaling board, its figure and ``uebench sweep --axis``
all read.

Test cases. brats-mni synthesises case ``i`` from the generator seeded ``(DATA_SEED, i)`` at
the preset's volume size, so at one size the first 24 cases are the same volumes whatever
``n_cases`` is; but the split shuffles all of a preset's cases (``runner.data.split_cases``), so
34 or 54 cases would be cut into other test cases than canary's 24. The train-cases presets
therefore set ``split_pool=24``: canary's 24 cases are shuffled and cut exactly as canary cuts
them (same 2 val and 12 test cases, same 10 first training cases) and the added cases
(``brats-mni-024`` on) join the training split, so the points of that axis share their val
and test cases and their training sets are nested. The volume presets keep canary's cases and
split by index (same ids in each part), but every case is synthesised at the new size and the
generator's draws after the deformation depend on the size (the voxel noise), so they are not
canary's volumes resampled. The other axes keep canary's cases.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the table is read without torch (the boards); building presets needs it
    from uebench.contracts.core import Preset

BASE = "canary"

AXES: dict[str, tuple[tuple[int, str], ...]] = {
    "surrogate-updates": ((120, "canary-u120"), (500, "canary-u500"), (1000, BASE),
                          (2000, "canary-u2000")),
    "epochs": ((40, BASE), (100, "canary-e100"), (200, "canary-e200")),
    "volume": ((32, BASE), (48, "canary-v48"), (64, "canary-v64")),
    "train-cases": ((10, BASE), (20, "canary-n20"), (40, "canary-n40")),
}
"""Axis -> its points in order, (value, preset name), the base point included."""

AXIS_TEXT = {
    "surrogate-updates": "surrogate update cap (fit rule)",
    "epochs": "victim training epochs",
    "volume": "volume edge (voxels)",
    "train-cases": "training cases",
}
"""What each axis's value is, for headers and figure labels."""


class UnknownAxisError(KeyError):
    """An axis name that ``AXES`` does not hold; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def axis_value(preset: Preset, axis: str) -> int:
    """The value ``preset`` takes on ``axis``."""
    if axis == "train-cases":
        return preset.split[0] if preset.split else preset.n_cases
    return {"surrogate-updates": preset.surrogate_updates, "epochs": preset.epochs,
            "volume": preset.volume_size}[axis]


def _moved(base: Preset, axis: str, value: int) -> dict:
    """The fields a point of ``axis`` at ``value`` changes in ``base``."""
    if axis == "train-cases":
        _, n_val, n_test = base.split
        return {"n_cases": value + n_val + n_test, "split": (value, n_val, n_test),
                "split_pool": base.n_cases}
    field = {"surrogate-updates": "surrogate_updates", "epochs": "epochs",
             "volume": "volume_size"}[axis]
    return {field: value}


def scale_presets(base: Preset) -> list[tuple[Preset, str]]:
    """Every point's preset except the base itself, built from ``base`` (``canary``) by
    moving its one axis, each with the summary ``uebench list presets`` shows."""
    found = []
    for axis, points in AXES.items():
        for value, name in points:
            if name != BASE:
                preset = dataclasses.replace(base, name=name, **_moved(base, axis, value))
                found.append((preset, f"scale study: {BASE} with {AXIS_TEXT[axis]} {value}"))
    return found


def axis_presets(axes: list[str] | tuple[str, ...]) -> list[str]:
    """The preset names of ``axes``' points, in axis and point order, each once (the base
    point is on every axis); ``UnknownAxisError`` for a name not in ``AXES``."""
    unknown = [axis for axis in axes if axis not in AXES]
    if unknown:
        raise UnknownAxisError(f"unknown scale axis {unknown[0]!r}. Known: "
                               f"{', '.join(AXES)}.")
    return list(dict.fromkeys(name for axis in axes for _, name in AXES[axis]))


def points() -> dict[str, list[tuple[str, int]]]:
    """Preset name -> every (axis, value) it is a point of (the base: one per axis)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for axis, axis_points in AXES.items():
        for value, name in axis_points:
            found.setdefault(name, []).append((axis, value))
    return found
