"""The regression canary (``make canary``): a small, deterministic sweep whose records are
committed as the baseline (``benchmarks/canary/baseline/``), re-run and compared with
``uebench compare``.

The grid: ``clean``, ``random-roi``, ``voxshield`` and ``em`` on ``unet`` at 32/255 (where
voxshield and em protect; protocol 4 on an AMD EPYC, as at protocol 3: clean-trained DSC 0.759
-> voxshield 0.054, em 0.495, random-roi 0.727; sweep 89.6 s wall alone at protocol 3, 208 s
when the protocol-4 baseline was made beside a one-worker training sweep), seed 0, on brats-mni
under the ``canary`` preset (32^3, 40 epochs; the clean-trained victim clears the reference
bar). Two worker processes with one torch thread each: one thread per process makes every
stage bit-for-bit reproducible on a CPU whatever the machine's core count, and is the fastest
layout on 2 cores.

    python -m benchmarks.run_canary [--out DIR] [--keep] [--update-baseline]
                                    [-- uebench-compare options]

runs the grid into DIR (default: a fresh temporary folder, removed afterwards unless --keep),
then ``uebench compare DIR/records BASELINE`` and exits with its code (1: something moved).

One thread per process is bit-for-bit reproducible on one CPU model only: across models the
single-seed trainings diverge (measured at 4e98cf9: em's protected DSC 0.279 on the machine
that made the first baseline, 0.451 on an AMD EPYC; protect time / calibration 345 vs 559). So
the baseline is kept per CPU model, ``benchmarks/canary/baseline/<model>/``: on a model that
has one, the comparison uses the given tolerances (protocol 4: only ``amd-epyc`` so far; the
protocol-3 baseline is kept in ``benchmarks/canary/archive/protocol-3``, the protocol-2
baselines of two models, from which ``CROSS_CPU`` was measured, in
``benchmarks/canary/archive/protocol-2``); on another, it compares with a baseline of
another model at the wider ``CROSS_CPU`` tolerances and says so. ``--update-baseline``
replaces this CPU model's records with the new ones (after an intended change, or to add this
model; commit them with the change).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from uebench.runner.environment import cpu_model

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
# uebench compare's tolerances against another CPU model's baseline: the measured spread
# across models (DSC +0.17, time x1.62), rounded up.
CROSS_CPU = ("--dsc-tolerance", "0.25", "--time-tolerance", "1.0")


def slug(text: str) -> str:
    """A folder name for a CPU model: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def baseline_for(model: str) -> tuple[Path | None, bool]:
    """This CPU model's baseline folder and True; else another model's (the first by name)
    and False; None when there is none."""
    own = BASELINE / slug(model)
    if any(own.glob("*.json")):
        return own, True
    others = sorted(p for p in BASELINE.iterdir() if p.is_dir() and any(p.glob("*.json")))
    return (others[0] if others else None), False


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
        model = cpu_model()
        if args.update_baseline:
            own = BASELINE / slug(model)
            own.mkdir(parents=True, exist_ok=True)
            for old in own.glob("*.json"):
                old.unlink()
            for record in sorted((out / "records").glob("*.json")):
                shutil.copy2(record, own / record.name)
            print(f"baseline updated for CPU {model!r}: {own}")
            return 0
        baseline, same_cpu = baseline_for(model)
        if baseline is None:
            print(f"no canary baseline in {BASELINE}; make one with --update-baseline")
            return 2
        compare_args = args.compare_args
        if not same_cpu:
            compare_args = list(CROSS_CPU)
            print(f"no canary baseline for CPU {model!r}: comparing with {baseline.name} at "
                  f"cross-CPU tolerances ({' '.join(CROSS_CPU)}); add this CPU's with "
                  "--update-baseline", flush=True)
        return subprocess.run(uebench("compare", str(out / "records"), str(baseline),
                                      *compare_args)).returncode
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
