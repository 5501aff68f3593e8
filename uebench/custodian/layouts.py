"""The folder layouts the dataset registry knows: every registered :class:`NiftiFolder`
subclass is one (built-ins and plugins alike), found by its declared ``layout`` name or by its
``detect``. ``uebench dataset check`` and ``uebench protect`` look layouts up here, so a new
layout needs no edit to either."""

from __future__ import annotations

from pathlib import Path

from uebench.contracts import registry
from uebench.contracts.folders import FolderError, NiftiFolder


def folder_layouts() -> dict[str, type[NiftiFolder]]:
    """Layout name -> the registered dataset class that reads it, sorted by name."""
    found: dict[str, type[NiftiFolder]] = {}
    for name in registry.datasets.names():
        cls = registry.datasets.get(name)
        if isinstance(cls, type) and issubclass(cls, NiftiFolder) and cls.layout:
            found.setdefault(cls.layout, cls)
    return dict(sorted(found.items()))


def layout_class(root: Path, layout: str = "auto",
                 how: str = "with --layout") -> type[NiftiFolder]:
    """The class of the layout named ``layout``, or with ``auto`` of the one layout whose
    ``detect`` accepts the folder ``root``; a :class:`FolderError` naming the choices when
    there is none (or, detected, more than one), saying ``how`` to name one."""
    layouts = folder_layouts()
    names = ", ".join(layouts)
    if layout != "auto":
        if layout not in layouts:
            raise FolderError(f"unknown layout {layout!r}; one of auto, {names}")
        return layouts[layout]
    matches = [cls for cls in layouts.values() if cls.detect(root)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise FolderError(f"{root}: looks like more than one layout "
                          f"({', '.join(cls.layout for cls in matches)}); name one {how}")
    raise FolderError(f"{root}: cannot tell its layout (none of {names} recognises it); "
                      f"name one {how} ({names})")
