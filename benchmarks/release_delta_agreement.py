"""How much of a method's in-memory delta survives its release: the delta a victim trains on
when the method's output is applied in memory, against the delta read back from the folder
`uebench protect` wrote (the pseudo-method ``released``), case by case.

The writer keeps a file's zero voxels zero (the reader's z-score runs over the non-zero voxels,
``NormalizeIntensity(nonzero=True)``), and the reader re-normalises the protected file with its
own statistics, so a delta that moves a volume's mean or spread reaches the attacker changed.
Per case, over the training cases both runs share (means, with the range over cases):

* ``background_energy_share``: share of the in-memory delta's energy (sum of squares) on
  voxels that are 0 in the clean volume, which a release cannot carry;
* ``amplitude_ratio``: mean |released delta| / mean |in-memory delta| on the non-zero voxels;
* ``correlation``: Pearson correlation of the two deltas on the non-zero voxels (1: the
  release carries the method's pattern, scaled; near 0: another pattern);
* ``spread_ratio``: std(clean + in-memory delta) / std(clean) on each channel's non-zero
  voxels, the mean over channels (1: the delta leaves the spread the reader normalises by).

Both records must come from one run folder (their stages in OUT/cache):

    python benchmarks/release_delta_agreement.py OUT/records/em-unet-*.json \
        OUT/records/released-unet-*.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmarks.delta_spectrum import protect_arrays
from uebench.contracts.budget import storage_scale
from uebench.report.readback import clean_cases


def agreement(in_memory: np.ndarray, released: np.ndarray, clean: np.ndarray, scale: float
              ) -> dict[str, float]:
    """The four measures of one case (stored int8 deltas, ``scale`` per stored unit; ``clean``
    the normalised image [C, D, H, W])."""
    a, b = in_memory.astype(np.float64), released.astype(np.float64)
    inside = clean != 0
    spread = [(clean[c][inside[c]] + scale * a[c][inside[c]]).std() / clean[c][inside[c]].std()
              for c in range(clean.shape[0])]
    return {
        "background_energy_share": float((a[~inside] ** 2).sum() / (a ** 2).sum()),
        "amplitude_ratio": float(np.abs(b[inside]).mean() / np.abs(a[inside]).mean()),
        "correlation": float(np.corrcoef(a[inside], b[inside])[0, 1]),
        "spread_ratio": float(np.mean(spread)),
    }


def main(in_memory_path: str, released_path: str) -> None:
    in_record, in_memory = protect_arrays(Path(in_memory_path))
    released_record, released = protect_arrays(Path(released_path))
    if in_record["spec"]["epsilon"] != released_record["spec"]["epsilon"]:
        raise SystemExit("the two runs were checked against different budgets")
    cases = clean_cases(in_record, Path(in_memory_path).parent.parent / "cache")["cases"]
    shared = sorted(set(in_memory) & set(released))
    if not shared:
        raise SystemExit("the two runs share no training case")
    scale = storage_scale(in_record["spec"]["epsilon"])
    rows = [agreement(in_memory[c], released[c], np.asarray(cases[c].image), scale)
            for c in shared]
    table = [{"measure": key, "mean": np.mean([r[key] for r in rows]),
              "min": min(r[key] for r in rows), "max": max(r[key] for r in rows)}
             for key in rows[0]]
    print(f"{len(shared)} training cases, {in_record['run_id']} against the release")
    print(tabulate(table, headers="keys", floatfmt=".3f"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
