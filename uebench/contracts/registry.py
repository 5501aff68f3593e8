"""Name -> plugin registries for methods, victims, datasets, defenses and presets.

Built-in plugins register with a decorator (``@register_method("voxshield")``), presets with
``register_preset(Preset(...))``; packages outside the repository add theirs through the
entry-point groups ``uebench.methods``, ``uebench.victims``, ``uebench.datasets``,
``uebench.defenses`` and ``uebench.presets`` (the entry point names a module or an object;
importing it runs its registrations; a ``uebench.presets`` entry point may also name a
``Preset``, which is registered).

A preset registered at run time (by a test, a script) reaches a sweep's worker processes:
executors hand each worker the driver's ``presets.snapshot()`` and the worker ``restore``s it.

A name registered twice keeps its first registrant (built-ins load before entry points); the
second is ignored and reported, as a ``PluginConflictWarning`` when it happens and in
``Registry.problems`` (``uebench list`` prints them and exits 2), so one broken plugin never
takes the other plugins down. An entry point whose import fails is reported the same way.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from uebench.contracts.core import Preset

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A plugin name that no registry entry matches; the message names the close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


class PluginConflictWarning(UserWarning):
    """A plugin name registered twice (the second is ignored), or a plugin that failed to load."""


def _module(obj: Any) -> str:
    return getattr(obj, "__module__", None) or "?"


def _where(obj: Any) -> str:
    """``module.Class``: where a registered object is defined."""
    qualname = getattr(obj, "__qualname__", None)
    return f"{_module(obj)}.{qualname}" if qualname else _module(obj)


def _distribution(entry_point: EntryPoint | None) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.name, dist.version


class Registry(Generic[T]):
    """A named collection of plugin classes of one kind."""

    def __init__(self, kind: str, builtin_package: str, entry_point_group: str) -> None:
        self.kind = kind
        self._builtin_package = builtin_package
        self._group = entry_point_group
        self._entries: dict[str, T] = {}
        self._loaded = False
        self._loading: EntryPoint | None = None  # the entry point being imported, if any
        self._entry_point_modules: dict[str, EntryPoint] = {}
        self.problems: list[str] = []  # one line per ignored duplicate or failed plugin

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator that adds the class under ``name``."""

        def decorate(obj: T) -> T:
            if self.add(name, obj):
                obj.name = name  # type: ignore[attr-defined]
            return obj

        return decorate

    def add(self, name: str, obj: T) -> bool:
        """Register ``obj`` as ``name``; False (reported) when another object has the name.
        Registering the same object, or an equal one, again changes nothing."""
        existing = self._entries.get(name)
        if existing is None:
            self._entries[name] = obj
        elif existing is not obj and existing != obj:
            self._report(f"{self.kind} {name!r} is registered twice: by "
                         f"{self._where(existing)} (kept) and by {self._where(obj)}"
                         f"{self._from()} (ignored)")
            return False
        return True

    def snapshot(self) -> dict[str, T]:
        """Every entry by name (built-in, from entry points and registered at run time)."""
        self._load()
        return dict(self._entries)

    def restore(self, entries: dict[str, T]) -> None:
        """Make the entries exactly ``entries`` (a ``snapshot``): how a worker process gets the
        driver's presets, and how a test puts back what it found."""
        self._load()
        self._entries = dict(entries)

    def _where(self, obj: T) -> str:
        """Which registrant ``obj`` is, for a conflict's message."""
        return _where(obj)

    def _loaded_entry_point(self, obj: Any) -> None:
        """What an entry point's loaded object adds beyond its import (nothing by default)."""

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self._builtin_package)
        for module in getattr(package, "BUILTIN_MODULES", ()):
            importlib.import_module(f"{self._builtin_package}.{module}")
        for entry_point in entry_points(group=self._group):
            self._entry_point_modules.setdefault(entry_point.module, entry_point)
            self._loading = entry_point
            try:
                self._loaded_entry_point(entry_point.load())
            except Exception as error:  # a broken plugin must not take the others down
                first_line = (str(error).splitlines() or [""])[0]
                self._report(f"{self.kind} plugin {entry_point.name} = {entry_point.value}"
                             f"{self._from()} failed to load: {type(error).__name__}: "
                             f"{first_line}")
            finally:
                self._loading = None

    def _from(self) -> str:
        """`` from DIST VERSION`` while an entry point is being imported, else ``""``."""
        name, version = _distribution(self._loading)
        return f" from {name} {version}" if name else ""

    def _report(self, message: str) -> None:
        self.problems.append(message)
        warnings.warn(message, PluginConflictWarning, stacklevel=3)

    def origin(self, name: str) -> dict[str, Any] | None:
        """Where a plugin from an entry point comes from: its registered name, module, and the
        distribution (name and version) that declares the entry point; None for a built-in
        (its version is uebench's). Cheap: no metadata scan beyond the one at load time."""
        module = _module(self.get(name))
        for prefix, entry_point in self._entry_point_modules.items():
            if module == prefix or module.startswith(prefix + "."):
                distribution, version = _distribution(entry_point)
                return {"name": name, "module": module, "distribution": distribution,
                        "version": version}
        return None

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
        problems = f" Plugin problems: {'; '.join(self.problems)}" if self.problems else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}."
            + problems
        )


class PresetRegistry(Registry[Preset]):
    """The presets: ``Preset`` instances by name (``register_preset``), not classes, each with
    a line saying what it is for (``uebench list presets``; kept out of the preset itself, whose
    ``to_dict()`` is part of cache keys)."""

    def __init__(self, kind: str, builtin_package: str, entry_point_group: str) -> None:
        super().__init__(kind, builtin_package, entry_point_group)
        self.summaries: dict[str, str] = {}

    def register_preset(self, preset: Preset, summary: str = "") -> Preset:
        """Add ``preset`` under its own name, with what it is for; returns it."""
        if self.add(preset.name, preset) and summary:
            self.summaries[preset.name] = summary
        return preset

    def _where(self, obj: Preset) -> str:
        return repr(obj)

    def _loaded_entry_point(self, obj: Any) -> None:
        if isinstance(obj, Preset):
            self.register_preset(obj)


methods: Registry = Registry("method", "uebench.methods", "uebench.methods")
victims: Registry = Registry("victim", "uebench.victims", "uebench.victims")
datasets: Registry = Registry("dataset", "uebench.datasets", "uebench.datasets")
defenses: Registry = Registry("defense", "uebench.defenses", "uebench.defenses")
presets: PresetRegistry = PresetRegistry("preset", "uebench.contracts.presets", "uebench.presets")


def origins(**names: str) -> dict[str, dict[str, Any]]:
    """``origins(method="tiny-sign", victim="unet", ...)`` -> the entry-point origin
    (``Registry.origin``) of each named plugin that is not built in, keyed by kind; ``{}``
    when all are built in."""
    registries = {"method": methods, "victim": victims, "dataset": datasets,
                  "defense": defenses}  # looked up at call time
    found = {kind: registries[kind].origin(name) for kind, name in names.items()}
    return {kind: origin for kind, origin in found.items() if origin is not None}


register_method = methods.register
register_victim = victims.register
register_dataset = datasets.register
register_defense = defenses.register
register_preset = presets.register_preset
