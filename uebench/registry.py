"""Name -> plugin registries for methods, victims, datasets and defenses.

Built-in plugins register with a decorator (``@register_method("voxshield")``); packages
outside the repository add theirs through the entry-point groups ``uebench.methods``,
``uebench.victims``, ``uebench.datasets`` and ``uebench.defenses`` (the entry point names a
module or an object; importing it runs its decorators).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A plugin name that no registry entry matches; the message names the close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of plugin classes of one kind."""

    def __init__(self, kind: str, builtin_package: str, entry_point_group: str) -> None:
        self.kind = kind
        self._builtin_package = builtin_package
        self._group = entry_point_group
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator that adds the class under ``name``."""

        def decorate(obj: T) -> T:
            existing = self._entries.get(name)
            if existing is not None and existing is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            obj.name = name  # type: ignore[attr-defined]
            return obj

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self._builtin_package)
        for module in getattr(package, "BUILTIN_MODULES", ()):
            importlib.import_module(f"{self._builtin_package}.{module}")
        for entry_point in entry_points(group=self._group):
            entry_point.load()

    def names(self) -> list[str]:
        """Sorted names of every registered plugin, built-in and from entry points."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The plugin registered as ``name``; an error naming close matches otherwise."""
        self._load()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}."
        )


methods: Registry = Registry("method", "uebench.methods", "uebench.methods")
victims: Registry = Registry("victim", "uebench.victims", "uebench.victims")
datasets: Registry = Registry("dataset", "uebench.datasets", "uebench.datasets")
defenses: Registry = Registry("defense", "uebench.defenses", "uebench.defenses")

register_method = methods.register
register_victim = victims.register
register_dataset = datasets.register
register_defense = defenses.register
