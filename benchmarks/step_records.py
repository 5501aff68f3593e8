"""Copy one sweep step's records into a board's folder.

The records of the sweeps' output folder that the step's own ``uebench sweep`` arguments select
(its methods, seeds, budgets, presets, victims and defenses): the boards' sweeps share one
output folder and one cache.

Used by ``leaderboards/recipe/sweep-and-commit.sh`` after each step; it parses the arguments as
the sweep does (``--eps`` by the CLI's ``parse_epsilon``) and takes the sweep's defaults for
preset (``quick``) and defense (``none``); unlike the sweep, a step without ``--method``,
``--seed`` or ``--eps`` selects any (every board step names its seeds and budgets). A record
already in the destination is left as it is.

    python -m benchmarks.step_records SOURCE DEST [uebench sweep arguments ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from uebench.cli import parse_epsilon


def _given(args: list[str], option: str) -> set[str]:
    """The values of every ``option VALUE`` pair in ``args``."""
    return {args[i + 1] for i, a in enumerate(args[:-1]) if a == option}


def selects(spec: dict, args: list[str]) -> bool:
    """Whether a record's spec is one of the runs that the sweep arguments ``args`` name."""
    methods = {m.split(":")[0] for m in _given(args, "--method")}
    seeds = {int(s) for s in _given(args, "--seed")}
    budgets = {parse_epsilon(e) for e in _given(args, "--eps")}
    return (spec["preset"] in (_given(args, "--preset") or {"quick"})
            and spec["victim"] in _given(args, "--victim")
            and spec["defense"] in (_given(args, "--defense") or {"none"})
            and (not methods or spec["method"] in methods)
            and (not seeds or spec["seed"] in seeds)
            and (not budgets or spec["epsilon"] in budgets))


def copy_step_records(source: Path, dest: Path, args: list[str]) -> list[Path]:
    """Copy the records of ``source`` that ``args`` select and ``dest`` lacks; the copies."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.glob("*.json")):
        if not (dest / path.name).exists() and selects(json.loads(path.read_text())["spec"],
                                                        args):
            copied.append(Path(shutil.copy(path, dest / path.name)))
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_records",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the sweep's records folder")
    parser.add_argument("dest", type=Path, help="the board's records folder")
    parser.add_argument("sweep_args", nargs=argparse.REMAINDER,
                        help="the step's `uebench sweep` arguments")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"{args.source}: no such folder")
    copied = copy_step_records(args.source, args.dest, args.sweep_args)
    print(f"{len(copied)} record(s) copied into {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
