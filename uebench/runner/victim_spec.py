"""A run's victim: ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` with the victim's ``__init__``
parameters (``unet:act=relu``; ``uebench list victims`` shows each one's), parsed against their
declared types and ranges (``uebench.contracts.params``) before any work starts. The canonical
spelling (``canonical_victim``: parameters sorted, defaults dropped) is the run's
``RunSpec.victim`` and so part of its cache keys and its cell: ``unet`` and ``unet:act=relu``
are two victims on every board.
"""

from __future__ import annotations

from typing import Any

from uebench.contracts import params, registry
from uebench.contracts.core import Victim

PARAMETERS = ":"


def victim_name(spec: str) -> str:
    """The registered name a victim spec starts with (``unet:act=relu`` -> ``unet``)."""
    return spec.partition(PARAMETERS)[0].strip()


def parse_victim(spec: str) -> tuple[type[Victim], dict[str, Any]]:
    """``NAME[:KEY=VALUE,...]`` -> the victim's class and its checked parameters; an unknown
    name is an ``UnknownNameError`` naming the close matches, a bad parameter a one-line
    ``ParameterError``."""
    name, _, arguments = spec.partition(PARAMETERS)
    cls = registry.victims.get(name.strip())
    schema = params.from_signature(cls, ranges=cls.param_ranges)
    owner = f"victim {cls.name!r}"
    items = [item for item in arguments.split(",") if item.strip()]
    values = params.parse_assignments(owner, schema, items, option=f"victim {spec!r}:")
    return cls, params.checked(owner, schema, values)


def canonical_victim(spec: str) -> str:
    """The canonical spelling of a victim spec: its name, then the parameters that differ from
    their defaults, sorted (``unet:act=relu``)."""
    return params.canonical_spelling(*parse_victim(spec))


def build_victim(spec: str) -> Victim:
    """The victim a spec names, with its parameters."""
    cls, values = parse_victim(spec)
    return cls(**values)
