"""Regression tracking of the hot-path benchmarks: two pytest-benchmark JSON files (``make
bench``: ``benchmarks/test_hot_paths.py --benchmark-json``), compared by the rule ``uebench
compare`` applies to protect times.

Each benchmark's time (the ``stat`` of its rounds, median by default) is divided by the same
statistic of the calibration workload (``uebench.runner.calibration``: a fixed conv3d
forward/backward) timed in the same process, interleaved with its rounds and kept in the
benchmark's ``extra_info`` (``calibration_round_seconds``, or one ``calibration_seconds``)
and timed with the same clock (``--benchmark-timer``; both files must use the same one);
a benchmark moved when its new ratio exceeds the baseline's by more than the fraction
``tolerance``. A uniformly slower (or busier) machine slows the calibration as much as the
benchmark, so it is not a regression. Benchmarks without a calibration time on either side are
compared on raw seconds, and the output says so; benchmarks in only one file are listed, not
compared.

    python -m uebench.results.bench_compare NEW.json BASELINE.json [--tolerance 0.25] [--stat
    median]

exits 1 with a table of what moved, 0 when nothing did, 2 when there is nothing to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from uebench.runner.store import read_json

CALIBRATION_KEY = "calibration_seconds"
CALIBRATION_ROUNDS_KEY = "calibration_round_seconds"
STATS = {"median": statistics.median, "min": min, "mean": statistics.fmean}


class BenchCompareError(ValueError):
    """Nothing to compare: a missing or unreadable file, no benchmarks, none shared."""


@dataclass(frozen=True)
class Timing:
    """One benchmark of one file: its time (the chosen statistic) and calibration time."""

    name: str
    seconds: float
    calibration: float | None
    timer: str = "perf_counter"

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.calibration if self.calibration else None


@dataclass(frozen=True)
class Row:
    """One benchmark compared: baseline and new values (ratios, or seconds when uncalibrated),
    the limit, and whether the new value is past it."""

    name: str
    measure: str  # "time / calibration" or "seconds"
    baseline: float
    new: float
    limit: float
    baseline_seconds: float
    new_seconds: float

    @property
    def change(self) -> float:
        return self.new / self.baseline - 1.0

    @property
    def moved(self) -> bool:
        return self.new > self.limit


@dataclass
class BenchComparison:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.moved]


def load(path: Path | str, role: str) -> dict[str, Any]:
    """A pytest-benchmark JSON file; a clear error when it is missing or holds no benchmark."""
    path = Path(path)
    if not path.is_file():
        raise BenchCompareError(f"{role} file {path} does not exist")
    try:
        data = read_json(path)
    except ValueError as error:
        raise BenchCompareError(str(error)) from None
    if not isinstance(data, dict) or not data.get("benchmarks"):
        raise BenchCompareError(f"{path}: no benchmarks (a pytest-benchmark --benchmark-json "
                                "file of a run with benchmarks enabled?)")
    return data


def timings(data: dict[str, Any], stat: str = "median") -> dict[str, Timing]:
    """Every benchmark of a pytest-benchmark JSON document by name (``test_x[param]``)."""
    if stat not in STATS:
        raise BenchCompareError(f"unknown statistic {stat!r}; one of {', '.join(STATS)}")
    out = {}
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") or {}
        rounds = extra.get(CALIBRATION_ROUNDS_KEY)
        calibration = STATS[stat](rounds) if rounds else extra.get(CALIBRATION_KEY)
        out[bench["name"]] = Timing(bench["name"], float(bench["stats"][stat]),
                                    float(calibration) if calibration else None,
                                    str((bench.get("options") or {}).get("timer", "perf_counter")))
    return out


def compare_timings(new: dict[str, Timing], base: dict[str, Timing], tolerance: float = 0.25
                    ) -> BenchComparison:
    """Compare benchmark by benchmark (see the module's docstring)."""
    shared = sorted(set(new) & set(base))
    if not shared:
        raise BenchCompareError("no benchmark of NEW is in BASELINE")
    clocks = {(new[name].timer, base[name].timer) for name in shared}
    if any(n != b for n, b in clocks):
        n, b = next(c for c in clocks if c[0] != c[1])
        raise BenchCompareError(f"NEW was timed with {n} and BASELINE with {b} "
                                "(--benchmark-timer); compare runs timed with the same clock")
    result = BenchComparison()
    raw = []
    for name in shared:
        n, b = new[name], base[name]
        if n.ratio is not None and b.ratio is not None:
            measure, base_value, new_value = "time / calibration", b.ratio, n.ratio
        else:
            measure, base_value, new_value = "seconds", b.seconds, n.seconds
            raw.append(name)
        result.rows.append(Row(name, measure, base_value, new_value,
                               base_value * (1 + tolerance), b.seconds, n.seconds))
    if raw:
        result.notes.append(f"{len(raw)} benchmark(s) compared on raw seconds (no calibration "
                            f"time): {', '.join(raw)}")
    for role, names in (("NEW", set(new) - set(base)), ("BASELINE", set(base) - set(new))):
        if names:
            result.notes.append(f"{len(names)} benchmark(s) only in {role}, not compared: "
                                f"{', '.join(sorted(names))}")
    return result


def compare(new_path: Path | str, baseline_path: Path | str, tolerance: float = 0.25,
            stat: str = "median") -> BenchComparison:
    """Compare the pytest-benchmark JSON files ``new_path`` and ``baseline_path``."""
    return compare_timings(timings(load(new_path, "NEW"), stat),
                           timings(load(baseline_path, "BASELINE"), stat), tolerance)


def _fmt(value: float, measure: str) -> str:
    return f"{value * 1e3:.1f} ms" if measure == "seconds" else f"{value:.3f}"


def render(result: BenchComparison, tolerance: float) -> str:
    """The table of what moved (or, when nothing did, one line per benchmark), the notes, and
    a verdict line."""
    headers = ["benchmark", "measure", "baseline", "new", "change", "limit", "baseline ms",
               "new ms"]

    def line(r: Row, verdict: str | None = None):
        cells = [r.name, r.measure, _fmt(r.baseline, r.measure), _fmt(r.new, r.measure),
                 f"{r.change:+.0%}", _fmt(r.limit, r.measure), f"{r.baseline_seconds * 1e3:.1f}",
                 f"{r.new_seconds * 1e3:.1f}"]
        return cells if verdict is None else [*cells, verdict]

    moved = result.regressions
    if moved:
        table = tabulate([line(r) for r in moved], headers, disable_numparse=True)
        verdict = (f"REGRESSION: {len(moved)} of {len(result.rows)} benchmark(s) slower than "
                   f"the baseline by more than {tolerance:.0%} (time / calibration)")
    else:
        table = tabulate([line(r, "ok") for r in result.rows], [*headers, "verdict"],
                         disable_numparse=True)
        verdict = f"no regression: {len(result.rows)} benchmark(s) within {tolerance:.0%}"
    return "\n".join([table, *(f"note: {n}" for n in result.notes), verdict])


def main(argv: list[str] | None = None, default_baseline: Path | None = None,
         prog: str = "python -m uebench.results.bench_compare") -> int:
    """The command line; ``default_baseline`` makes BASELINE optional."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Compare two pytest-benchmark JSON files of the hot paths as ratios to the "
                    "calibration workload timed in the same process; exit 1 when a benchmark "
                    "slowed down beyond the tolerance.")
    parser.add_argument("new", type=Path, help="pytest-benchmark JSON of the run to check")
    parser.add_argument("baseline", type=Path, nargs="?" if default_baseline else None,
                        default=default_baseline,
                        help="pytest-benchmark JSON of the baseline"
                             + (f" (default {default_baseline})" if default_baseline else ""))
    parser.add_argument("--tolerance", type=float, default=0.25,
                        help="time / calibration may exceed the baseline's by this fraction "
                             "(default 0.25)")
    parser.add_argument("--stat", choices=list(STATS), default="median",
                        help="statistic of each benchmark's rounds (default median)")
    args = parser.parse_args(argv)
    try:
        result = compare(args.new, args.baseline, args.tolerance, args.stat)
    except BenchCompareError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    print(render(result, args.tolerance))
    return 1 if result.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
