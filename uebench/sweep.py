"""A grid of runs (methods x victims x budgets x seeds) for a leaderboard, resumable.

Runs go one at a time through the same ``Pipeline`` as ``uebench run``; a run whose record is
already in ``out/records`` is skipped and every finished stage is cached, so an interrupted
sweep picks up where it stopped. A method bounded in another norm than L-inf (such as OPS, L0)
ignores eps and runs once, at the first eps.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from uebench import registry
from uebench.pipeline import RunSpec


def plan(methods: Iterable[str], victims: Iterable[str], epsilons: Iterable[float],
         seeds: Iterable[int], dataset: str, preset: str, defense: str = "none") -> list[RunSpec]:
    """The runs of the grid, victim-major (cheap victims first if listed first)."""
    epsilons, seeds, methods = list(epsilons), list(seeds), list(methods)
    specs = []
    for victim in victims:
        for index, epsilon in enumerate(epsilons):
            for method in methods:
                if index > 0 and registry.methods.get(method).norm != "linf":
                    continue
                specs += [RunSpec(method=method, victim=victim, dataset=dataset,
                                  defense=defense, epsilon=epsilon, seed=seed, preset=preset)
                          for seed in seeds]
    return specs


def pending(specs: list[RunSpec], out: Path) -> list[RunSpec]:
    """The specs without a record in ``out/records`` yet."""
    return [s for s in specs if not (Path(out) / "records" / f"{s.run_id()}.json").exists()]
