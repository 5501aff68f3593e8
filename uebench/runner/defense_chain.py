"""A run's defense: its spec string, its canonical form, and the chain that applies it.

A spec is ``+``-joined defenses, each ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` with the
defense's ``__init__`` parameters (``gaussian:sigma=1.5+affine:prob=1.0,rotate_deg=10``;
``uebench list defenses`` shows each one's). The canonical form (``canonical_defense``) is the
run's ``RunSpec.defense`` and so part of its cache keys: data defenses first, then
training-time ones, each group in the order given; parameters sorted, in their declared type's
form, and dropped where they equal the default, so ``gaussian`` and ``gaussian:sigma=1.0`` are
one run (and every parameterless spec reads as it always did). ``none`` is no defense.
``DefenseChain`` builds and applies a canonical spec, and calls the attacker hooks of
``uebench.contracts.core.Defense`` on each of its defenses in that order; ``DefenseSetup`` and
``DefenseContext`` are what those hooks see. ``TrainingDefense`` is the base of the
training-time defenses (their seeding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from uebench.contracts import params, registry
from uebench.contracts.core import BatchLoss, Case, Dataset, Defense, Preset, Victim

if TYPE_CHECKING:
    from uebench.runner.store import StageCache

NONE = "none"
SEPARATOR = "+"
PARAMETERS = ":"
_OPEN, _CLOSE, _QUOTES = "([{", ")]}", "'\""


def _split(text: str, separator: str, before_name: bool = False) -> list[str]:
    """``text`` split at each ``separator`` outside brackets and quotes; with
    ``before_name``, only where a name follows (so ``1e+3`` stays whole)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in _QUOTES:
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif (char == separator and depth == 0
              and (not before_name or text[i + 1 :].lstrip()[:1].isalpha())):
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def defense_parts(defenses: str | Iterable[str]) -> list[str]:
    """``"zlowpass+affine:prob=1.0"`` or ``["zlowpass", "affine:prob=1.0"]`` (as repeated
    ``--defense`` gives) -> ``["zlowpass", "affine:prob=1.0"]``; blanks dropped."""
    items = [defenses] if isinstance(defenses, str) else list(defenses)
    return [part.strip() for item in items for part in _split(item, SEPARATOR, True)
            if part.strip()]


def parse_defense(part: str) -> tuple[type[Defense], dict[str, Any]]:
    """One defense ``NAME[:KEY=VALUE,...]`` -> its class and its parameters, each parsed
    against the type the class's ``__init__`` declares and checked against it and the
    class's ``param_ranges`` (``params``); an unknown name is an ``UnknownNameError`` naming
    the close matches."""
    name, _, arguments = part.partition(PARAMETERS)
    cls = registry.defenses.get(name.strip())
    schema = params.from_signature(cls, ranges=cls.param_ranges)
    items = [item for item in _split(arguments, ",") if item.strip()]
    owner = f"defense {cls.name!r}"
    values = params.parse_assignments(owner, schema, items, option=f"defense {part!r}:")
    return cls, params.checked(owner, schema, values)


def defense_spec(cls: type[Defense], values: dict[str, Any]) -> str:
    """The canonical spelling of one defense: its name, then the parameters that differ from
    their defaults, sorted (``gaussian:sigma=1.5``)."""
    return params.canonical_spelling(cls, values)


def canonical_defense(defenses: str | Iterable[str]) -> str:
    """The canonical spelling of a (combined) defense: every name and parameter checked, data
    defenses first, then training-time ones, each group in the order given, joined by ``+``;
    ``"none"`` for no defense."""
    parts = defense_parts(defenses)
    if not parts or parts == [NONE]:
        return NONE
    parsed = [parse_defense(part) for part in parts]
    names = [cls.name for cls, _ in parsed]
    if NONE in names:
        raise ValueError(f"defense {NONE!r} cannot be combined with others: "
                         f"{SEPARATOR.join(parts)!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"defense {', '.join(repeated)} given more than once")
    for cls, _ in parsed:
        if cls.kind not in ("data", "training"):
            raise ValueError(f"defense {cls.name!r} has kind {cls.kind!r}; expected 'data' or "
                             "'training'")
    ordered = ([p for p in parsed if p[0].kind == "data"]
               + [p for p in parsed if p[0].kind == "training"])
    return SEPARATOR.join(defense_spec(cls, values) for cls, values in ordered)


def at_fractions(defenses: Iterable[str], fractions: Iterable[float]) -> list[str]:
    """Each defense column at each protected fraction (``--protected-fraction``): the column
    combined with ``partial:fraction=F``, or the column itself at F = 1 (full protection)."""
    fractions = list(fractions)
    if not fractions:
        return list(defenses)
    columns = []
    for defense in defenses:
        for fraction in fractions:
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"--protected-fraction must lie in [0, 1]; got {fraction:g}")
            partial = f"partial:fraction={fraction:g}"
            columns.append(defense if fraction == 1.0 else
                           partial if canonical_defense(defense) == NONE
                           else f"{defense}{SEPARATOR}{partial}")
    return columns


class TrainingDefense(Defense):
    """Base of the training-time defenses; ``start(seed)`` seeds their own generators."""

    kind = "training"
    _generator: torch.Generator | None = None

    def apply(self, image, label, rng):
        raise TypeError(f"{self.name} is a training-time defense; it has no data transform")

    def start(self, seed: int) -> None:
        self._generator = torch.Generator().manual_seed(int(seed))
        for transform in self._monai_transforms():
            transform.set_random_state(seed=int(seed) % 2**32)

    def _monai_transforms(self) -> list[Any]:
        return []

    @property
    def generator(self) -> torch.Generator:
        """This defense's torch generator (``start(0)`` when the run has not seeded it)."""
        if self._generator is None:
            self.start(0)
        return self._generator


class DefenseChain:
    """A run's defenses, from a canonical string: ``apply`` runs the data defenses in order
    on one volume; ``hook`` (None without training-time defenses) is the ``batch_loss`` of the
    training-time ones, the first outermost (it sees the batch first and its ``loss_fn`` is
    the next one's ``batch_loss``, the last one's is the victim's DiceCE). ``check``,
    ``clean_cases``, ``grid``, ``read``, ``initial_weights`` and ``validation`` call that hook
    of ``Defense`` on every defense (``defenses``), in order; the runner calls these, and no
    defense by name."""

    def __init__(self, spec: str = NONE) -> None:
        canonical = canonical_defense(spec)
        if canonical != spec:
            raise ValueError(f"defense {spec!r} is not in canonical form; write {canonical!r} "
                             "(data defenses first, then training-time ones, joined by '+'; "
                             "parameters sorted, defaults left out)")
        self.spec = canonical
        parts = [] if canonical == NONE else [cls(**values) for cls, values in
                                              map(parse_defense, defense_parts(canonical))]
        self.data: list[Defense] = [d for d in parts if d.kind == "data"]
        self.training: list[Defense] = [d for d in parts if d not in self.data]

    def apply(self, image: np.ndarray, label: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        for defense in self.data:
            image, label = defense.apply(image, label, rng)
        return image, label

    def start(self, seed: int) -> None:
        """Seed every training-time defense, each from its own stream of ``seed``."""
        for position, defense in enumerate(self.training):
            state = np.random.SeedSequence([seed, 2, position]).generate_state(1)[0]
            defense.start(int(state))

    def batch_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   loss_fn: BatchLoss) -> torch.Tensor:
        def step(position: int) -> BatchLoss:
            if position == len(self.training):
                return loss_fn
            return lambda m, xb, yb: self.training[position].batch_loss(m, xb, yb,
                                                                        step(position + 1))

        return step(0)(model, x, y)

    @property
    def hook(self):
        return self.batch_loss if self.training else None

    @property
    def defenses(self) -> list[Defense]:
        """Every defense of the chain in the canonical order (data, then training-time)."""
        return self.data + self.training

    def check(self, setup: DefenseSetup) -> None:
        """Each defense checks itself against the run (``Defense.check``)."""
        for defense in self.defenses:
            defense.check(setup)

    def clean_cases(self, case_ids: list[str], seed: int) -> set[str]:
        """The training cases any defense keeps clean (``Defense.clean_cases``)."""
        return set().union(*(d.clean_cases(case_ids, seed) for d in self.defenses))

    def grid(self, setup: DefenseSetup) -> tuple[float, int] | None:
        """The attacker's grid: the first a defense gives (``Defense.grid``), or None."""
        return _first(d.grid(setup) for d in self.defenses)

    def read(self, released: np.ndarray, case: Case, ctx: DefenseContext) -> np.ndarray:
        """A training volume as the attacker reads it: each defense's ``Defense.read`` in
        order, each on the one before's view."""
        for defense in self.defenses:
            released = defense.read(released, case, ctx)
        return released

    def initial_weights(self, model: nn.Module,
                        ctx: DefenseContext) -> dict[str, torch.Tensor] | None:
        """The victim's starting weights: the first a defense gives
        (``Defense.initial_weights``), or None."""
        return _first(d.initial_weights(model, ctx) for d in self.defenses)

    def validation(self, ctx: DefenseContext) -> Callable[[nn.Module], float] | None:
        """The epoch score: the first a defense gives (``Defense.validation``), or None."""
        return _first(d.validation(ctx) for d in self.defenses)

    @property
    def early_stopping(self) -> bool:
        """Whether a defense of the chain picks the victim's epoch (implements
        ``Defense.validation``)."""
        return any(type(d).validation is not Defense.validation for d in self.defenses)


def _first(values: Iterable[Any]) -> Any:
    """The first of ``values`` that is not None (None when all are)."""
    return next((value for value in values if value is not None), None)


@dataclass
class DefenseSetup:
    """The run as a defense checks itself against it (``Defense.check``) and places its grid
    (``Defense.grid``): the resolved dataset (``dataset_name``: as the spec names it, for
    messages), preset and victim."""

    dataset: Dataset
    dataset_name: str
    preset: Preset
    victim: Victim


@dataclass
class DefenseContext(DefenseSetup):
    """One victim's training under the run's defenses, as the hooks of ``Defense`` see it:
    the setup, the run's ``seed`` and ``epsilon``, the clean ``val`` split (the attacker's own
    labelled cases), the run's stage ``cache`` (a defense that computes something expensive
    caches it there under a kind of its own and a key from ``cohort_key`` or ``stable_hash``),
    and callbacks into the runner: ``evaluate(model, cases)`` (the record's metrics,
    ``uebench.runner.evaluation.evaluate``, at the attacker's grid), ``cohort_key(data_seed)``
    (the content key of the clean victim on the dataset's cohort of that data seed, as the
    stage cache keys victims) and ``train_on_cohort(data_seed)`` (a victim from the run
    seed's initial weights trained by the preset's schedule on that cohort's clean training
    split; only generated datasets have other cohorts). ``record``: entries a defense adds
    to the victim's training record (its JSON values)."""

    seed: int
    epsilon: float
    val: list[Case]
    cache: StageCache
    evaluate: Callable[[nn.Module, list[Case]], dict[str, Any]]
    cohort_key: Callable[[int], str]
    train_on_cohort: Callable[[int], nn.Module]
    record: dict[str, Any] = field(default_factory=dict)


def defense_origins(spec: str) -> dict[str, dict[str, Any]]:
    """``registry.origins`` for each defense of a (combined) canonical string: key
    ``defense`` for a single one, ``defense:NAME`` for each part of a combination."""
    names = [part.partition(PARAMETERS)[0] for part in defense_parts(spec)]
    if len(names) <= 1:
        return registry.origins(defense=names[0] if names else NONE)
    found = {f"defense:{name}": registry.defenses.origin(name) for name in names}
    return {key: origin for key, origin in found.items() if origin is not None}
