"""The regression canary (``make canary``): a small, deterministic sweep whose records are
committed as the baseline (``benchmarks/canary/baseline/``), re-run and compared with
``uebench compare``.

The grid: ``clean``, ``random-roi``, ``voxshield`` and ``em`` on ``unet`` at 32/255 (where
voxshield and em protect: clean-trained DSC 0.75 -> 0.01 and 0.28), seed 0, on brats-mni
under the ``canary`` preset (32^3, 40 epochs; the clean-trained victim clears the reference
bar). Two worker processes with one torch thread each: one thread per process makes every
stage bit-for-bit reproducible on a CPU whatever the machine's core count, and is the fastest
layout on 2 cores.

    python -m benchmarks.run_canary [--out DIR] [--keep] [--update-baseline]
                                    [-- uebench-compare options]

runs the grid into DIR (default: a fresh temporary folder, removed afterwards unless --keep),
then ``uebench compare DIR/records benchmarks/canary/baseline`` and exits with its code (1:
something moved). ``--update-baseline`` replaces the committed records with the new ones
instead of comparing (after an intended change; commit them with the change).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = Path(__file__).parent / "canary" / "baseline"
GRID = {
    "dataset": "brats-mni",
    "preset": "canary",
    "victims": ("unet",),
    "methods": ("clean", "random-roi", "voxshield", "em"),
    "epsilons": ("32/255",),
    "seeds": (0,),
}
WORKERS, THREADS = 2, 1


def uebench(*args: str) -> list[str]:
    return [sys.executable, "-m", "uebench.cli", *args]


def sweep_command(out: Path) -> list[str]:
    """``uebench sweep`` of the canary grid into ``out``."""
    args = ["sweep", "--dataset", GRID["dataset"], "--preset", GRID["preset"],
            "--workers", str(WORKERS), "--threads", str(THREADS), "--quiet", "--out", str(out)]
    for flag, key in (("--victim", "victims"), ("--method", "methods"), ("--eps", "epsilons"),
                      ("--seed", "seeds")):
        for value in GRID[key]:
            args += [flag, str(value)]
    return uebench(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_canary",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the run (records, stage cache); default: a temporary "
                             "one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--update-baseline", action="store_true",
                        help=f"replace the records in {BASELINE} with this run's")
    parser.add_argument("compare_args", nargs="*",
                        help="options for uebench compare (after --), e.g. --time-tolerance 0.5")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="uebench-canary-"))
    started = time.perf_counter()
    try:
        swept = subprocess.run(sweep_command(out))
        print(f"canary sweep: {time.perf_counter() - started:.1f} s wall, records in "
              f"{out / 'records'}", flush=True)
        if swept.returncode:
            return swept.returncode
        if args.update_baseline:
            BASELINE.mkdir(parents=True, exist_ok=True)
            for old in BASELINE.glob("*.json"):
                old.unlink()
            for record in sorted((out / "records").glob("*.json")):
                shutil.copy2(record, BASELINE / record.name)
            print(f"baseline updated: {BASELINE}")
            return 0
        return subprocess.run(uebench("compare", str(out / "records"), str(BASELINE),
                                      *args.compare_args)).returncode
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
