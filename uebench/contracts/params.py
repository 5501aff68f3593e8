"""Typed plugin parameters, one way for every kind.

A plugin's parameters and their types come from what it declares: a method's
``default_params(preset)`` (the type of each default) or a class's ``__init__`` signature (its
annotations, else the type of its defaults), as for defenses. Text from the command line
(``--param KEY=VALUE``, ``gaussian:sigma=1.5``) is parsed against the declared type and
checked before the plugin is built, so a bad value is a one-line ``ParameterError`` (a
``ValueError``: exit 2 at the CLI) naming the parameter and the type it expects, and an unknown
name names the close matches, instead of a TypeError deep inside a run.

Every numeric parameter also declares its range: the plugin class's ``param_ranges``
(``{name: (low, high)}``, inclusive bounds, ``None`` for no bound on that side; a subclass
extends its base's with ``param_ranges = {**Base.param_ranges, "x": (1, None)}``), attached to
the schema by ``from_defaults``/``from_signature`` (``Parameter.low``/``high``). A number
outside it, or not finite, is refused in one line (``method 'voxshield' parameter s_steps must
be >= 1; got 0``), each element of a tuple-typed parameter (``gamma=(0.7, 1.5)``) alike.
Bounds are inclusive; where 0 is meaningless (a sigma, a scale) the range says low 0 and the
plugin refuses 0 itself, as a ``ValueError`` when it is built (also before any work).
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from types import NoneType, UnionType
from typing import Any

REQUIRED = inspect.Parameter.empty
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*\Z")

# A numeric parameter's inclusive (low, high); None: no bound on that side.
Range = tuple[float | None, float | None]


class ParameterError(ValueError):
    """A plugin parameter that does not exist, or a value not of its declared type or range."""


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name, type (``int``, ``float``, ``bool``, ``str``,
    ``tuple[float, float]``, ``X | None``, ``Literal[...]`` or ``Any``), default and, for a
    number, its inclusive range (``low``/``high``; None: unbounded on that side)."""

    name: str
    type: Any = Any
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None

    @property
    def numeric(self) -> bool:
        """Whether the parameter takes numbers (an int or float, alone, in a tuple or with
        None), so it must declare a range."""
        return _numeric(self.type)

    def range_text(self) -> str:
        """``>= 1``, ``<= 2``, ``in [0, 1]`` or ``any number``."""
        low, high = (_number_text(self.low), _number_text(self.high))
        if self.low is not None and self.high is not None:
            return f"in [{low}, {high}]"
        if self.low is not None:
            return f">= {low}"
        return f"<= {high}" if self.high is not None else "any number"

    def out_of_range(self, value: Any) -> bool:
        """Whether ``value`` (of the declared type) holds a number outside the range, or one
        that is not finite, where a range is declared."""
        if self.low is None and self.high is None:
            return False
        return any(not (_finite(v) and (self.low is None or v >= self.low)
                        and (self.high is None or v <= self.high))
                   for v in _numbers(value))


Schema = dict[str, Parameter]


def _numeric(tp: Any) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (int, float):
        return True
    if origin in (typing.Union, UnionType, tuple):
        return any(_numeric(a) for a in args if a is not Ellipsis)
    return False


def _numbers(value: Any) -> list[float]:
    """The numbers in ``value`` (itself, or a tuple's elements; bools are not numbers)."""
    items = value if isinstance(value, tuple | list) else (value,)
    return [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]


def _finite(number: float) -> bool:
    """An int (of any size) always is; a float unless it is NaN or infinite."""
    return isinstance(number, int) or math.isfinite(number)


def _number_text(bound: float | None) -> str:
    return "" if bound is None else f"{bound:g}"


def _ranged(schema: Schema, ranges: Mapping[str, Range] | None) -> Schema:
    """``schema`` with each ``ranges`` entry attached to its parameter (names the schema lacks
    are ignored: a range a base class declares for a parameter a subclass dropped)."""
    for name, (low, high) in (ranges or {}).items():
        if name in schema:
            schema[name] = replace(schema[name], low=low, high=high)
    return schema


def type_of(value: Any) -> Any:
    """The declared type a default implies: ``(0.7, 1.5)`` -> ``tuple[float, float]``;
    ``None`` -> ``Any`` (nothing to check against)."""
    if value is None:
        return Any
    if isinstance(value, tuple):
        return tuple[tuple(type_of(v) for v in value)] if value else tuple
    return type(value)


def from_defaults(defaults: Mapping[str, Any], ranges: Mapping[str, Range] | None = None
                  ) -> Schema:
    """The schema of a ``{name: default}`` mapping (a method's ``default_params``), with the
    ``ranges`` (a plugin's ``param_ranges``) attached."""
    return _ranged({name: Parameter(name, type_of(value), value)
                    for name, value in defaults.items()}, ranges)


def from_signature(cls: type, skip: Iterable[str] = (),
                   ranges: Mapping[str, Range] | None = None) -> Schema:
    """The keyword parameters of ``cls.__init__`` (those in ``skip`` left out): annotated
    types, else the type of the default (also when an annotation does not resolve); ``{}``
    for a class without its own ``__init__``. ``ranges`` attached (None: the class's own
    ``param_ranges``, if it has any)."""
    if ranges is None:
        ranges = getattr(cls, "param_ranges", None)
    init = cls.__init__
    if init is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(init)
    except (NameError, TypeError):  # a plugin's annotation naming what it did not import
        hints = {}
    schema = {}
    for name, p in list(inspect.signature(init).parameters.items())[1:]:
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        schema[name] = Parameter(name, hints.get(name, type_of(None if p.default is REQUIRED
                                                             else p.default)), p.default)
    return _ranged(schema, ranges)


def method_schema(method_cls: type, preset: Any) -> Schema:
    """A method's parameters under ``preset`` (its ``default_params``), with its
    ``param_ranges``."""
    return from_defaults(method_cls.default_params(preset),
                         getattr(method_cls, "param_ranges", None))


def type_name(tp: Any) -> str:
    """``float``, ``(float, float)``, ``int or None``, ``one of 'hard', 'soft'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, UnionType):
        return " or ".join("None" if a is NoneType else type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"({type_name(args[0])}, ...)"
        return "(" + ", ".join(type_name(a) for a in args) + ")"
    return getattr(tp, "__name__", str(tp))


def conforms(value: Any, tp: Any) -> bool:
    """Whether ``value`` is of the declared type (an int passes for a float, a bool never
    passes for a number, a list passes for a tuple)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, UnionType):
        return any(conforms(value, a) for a in args)
    if tp is NoneType:
        return value is None
    if origin is tuple or tp is tuple:
        if not isinstance(value, tuple | list):
            return False
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp) if isinstance(tp, type) else True


def normalise(value: Any, tp: Any) -> Any:
    """A conforming value in the declared type's own form (an int given for a float becomes
    that float, a list for a tuple a tuple), so equal settings compare and print alike."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, UnionType):
        return next((normalise(value, a) for a in args if conforms(value, a)), value)
    if origin is tuple and isinstance(value, tuple | list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(normalise(v, args[0]) for v in value)
        return tuple(normalise(v, a) for v, a in zip(value, args))
    if tp is float and isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def parse_value(text: str, tp: Any = Any) -> Any:
    """Command-line text -> a value for a parameter of type ``tp``: the text itself for a
    ``str`` (unless it is a quoted string literal), ``true``/``false`` for a bool, ``4/255``
    for a float, otherwise a Python literal, and the text itself when it is none (what
    ``--param`` always did)."""
    text = text.strip()
    try:
        literal = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        literal = _fraction(text) if tp is float else text
    if tp is str:
        return literal if isinstance(literal, str) else text
    if tp is bool and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return literal


def _fraction(text: str) -> Any:
    """``4/255`` -> its float; anything else -> the text unchanged."""
    if re.fullmatch(r"\s*-?\d+(\.\d*)?\s*/\s*\d+(\.\d*)?\s*", text):
        try:
            return float(Fraction(text.replace(" ", "")))
        except ZeroDivisionError:
            return text
    return text


def check(owner: str, schema: Schema, values: Mapping[str, Any]) -> None:
    """Raise a one-line ``ParameterError`` for the first name ``schema`` lacks (naming the
    close matches), the first value not of its declared type or outside its declared range,
    or a required one missing."""
    for name, value in values.items():
        if name not in schema:
            close = difflib.get_close_matches(name, schema, n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ParameterError(f"{owner} has no parameter {name!r}.{hint} It takes: "
                                 f"{', '.join(sorted(schema)) or 'none'}.")
        expected = schema[name].type
        if not conforms(value, expected):
            raise ParameterError(f"{owner} parameter {name} expects {type_name(expected)}; "
                                 f"got {value!r}")
        if schema[name].out_of_range(value):
            each = " (each element)" if isinstance(value, tuple | list) else ""
            finite = "" if all(map(_finite, _numbers(value))) else "finite and "
            raise ParameterError(f"{owner} parameter {name} must be {finite}"
                                 f"{schema[name].range_text()}{each}; got {value!r}")
    missing = [p.name for p in schema.values() if p.default is REQUIRED and p.name not in values]
    if missing:
        raise ParameterError(f"{owner} needs parameter(s) {', '.join(missing)}")


def checked(owner: str, schema: Schema, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` after ``check``, each in its declared type's form (``normalise``)."""
    check(owner, schema, values)
    return {name: normalise(value, schema[name].type) for name, value in values.items()}


def parse_assignments(owner: str, schema: Schema | None, items: Iterable[str],
                      option: str = "--param") -> dict[str, Any]:
    """``("lambda_z=0.5", "roi=soft")`` -> ``{"lambda_z": 0.5, "roi": "soft"}``, each value
    parsed against its declared type and checked (``schema`` None: any name, untyped); the
    values keep the type they parse to (an int stays an int for a float parameter: run ids
    hash them)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"{option} {item!r} is not KEY=VALUE")
        declared = schema[key].type if schema and key in schema else Any
        values[key] = parse_value(text, declared)
    if schema is not None:
        check(owner, schema, values)
    return values


def format_value(value: Any) -> str:
    """The text ``parse_value`` reads back as ``value``: ``1.5``, ``(0.7,1.5)``, ``True``,
    ``soft`` (a bare word), ``'a b'`` (a string that is not one)."""
    if isinstance(value, tuple | list):
        inner = ",".join(format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        bare = _BARE_WORD.match(value) and value not in ("True", "False", "None")
        return value if bare and parse_value(value) == value else repr(value)
    return repr(value)


def canonical_spelling(cls: type, values: Mapping[str, Any]) -> str:
    """A plugin spec as the cache keys and boards spell it: the class's ``name``, then
    ``:`` and the ``__init__`` parameters that differ from their defaults, sorted and in their
    declared type's form (``gaussian:sigma=1.5``, ``unet:act=relu``); the name alone when none
    differs."""
    schema = from_signature(cls, ranges=getattr(cls, "param_ranges", None))
    changed = {name: value for name, value in sorted(values.items())
               if value != normalise(schema[name].default, schema[name].type)}
    if not changed:
        return cls.name
    return cls.name + ":" + ",".join(f"{name}={format_value(value)}"
                                     for name, value in changed.items())
