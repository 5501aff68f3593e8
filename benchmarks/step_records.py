"""Copy one sweep step's records into a board's folder.

The boards' sweeps share one output folder and one cache, so a step's records are told from
the others' by the runs that the step's own ``uebench sweep`` arguments plan: the arguments are
parsed by the sweep command itself (its defaults included) and its grid planned as it plans
it, and the record of each planned run (``<run id>.json``) is copied. A run without a record
(failed, or not reached) is not; a record already in the destination is left as it is.

Used by ``leaderboards/recipe/sweep-and-commit.sh`` after each step:

    python -m benchmarks.step_records SOURCE DEST [uebench sweep arguments ...]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import click

from uebench.cli import planned_runs


def copy_step_records(source: Path, dest: Path, args: list[str]) -> list[Path]:
    """Copy the records of ``source`` that the sweep arguments ``args`` plan and ``dest``
    lacks; the copies."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for run_id in dict.fromkeys(spec.run_id() for spec in planned_runs(args)):
        record, copy = source / f"{run_id}.json", dest / f"{run_id}.json"
        if record.exists() and not copy.exists():
            copied.append(Path(shutil.copy(record, copy)))
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
    try:
        copied = copy_step_records(args.source, args.dest, args.sweep_args)
    except (click.ClickException, KeyError, ValueError) as error:
        parser.error(f"the sweep arguments: {error}")
    print(f"{len(copied)} record(s) copied into {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
