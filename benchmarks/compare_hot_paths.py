"""Compare a hot-path benchmark run with the committed baseline (``make bench``):

    python -m benchmarks.compare_hot_paths NEW.json [BASELINE.json] [--tolerance 0.25]

BASELINE defaults to ``benchmarks/baseline/hot_paths.json``. Each time is divided by the
calibration workload timed in the same process (``uebench.results.bench_compare``); exit 1 with a
table of what moved, 0 when nothing did, 2 when there is nothing to compare.
"""

from __future__ import annotations

import sys
from pathlib import Path

from uebench.results.bench_compare import main

BASELINE = Path(__file__).parent / "baseline" / "hot_paths.json"

if __name__ == "__main__":
    sys.exit(main(default_baseline=BASELINE, prog="python -m benchmarks.compare_hot_paths"))
