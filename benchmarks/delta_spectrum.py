"""Inter-slice structure of the released deltas of finished runs: does a method's noise change
from one axial slice to the next more than plain noise of the same support and size?

For each run record given, the stored int8 deltas are read back from the run's stage cache and
summarised over the training cases: ``zdiv`` (VoxShield's term: mean L2 distance between the 2D
amplitude spectra of adjacent slices), ``zdiv / ||delta||_2`` (scale-free), and the share of
the delta's energy in the upper half of the z-frequencies (0.5 for white noise).

    python benchmarks/delta_spectrum.py runs/records/voxshield-*.json runs/records/random-roi-*.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate

from uebench.contracts.budget import storage_scale
from uebench.kit.spectra import z_spectrum, zdiv_per_l2
from uebench.report.readback import cached_deltas
from uebench.results import records


def protect_arrays(record_path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The record and the stored deltas of its protection stage (same key as the pipeline)."""
    try:
        record = records.read_record(record_path)
    except records.RecordError as error:
        raise SystemExit(str(error)) from None
    if records.norm(record) != "linf":
        raise SystemExit(f"{record_path}: only L-inf runs have int8 deltas to read back")
    arrays, reason = cached_deltas(record, record_path.parent.parent / "cache")
    if arrays is None:
        raise SystemExit(f"{record_path}: {reason}")
    return record, arrays


def summarise(deltas: dict[str, np.ndarray], epsilon: float) -> dict[str, float]:
    """Mean over cases of zdiv, zdiv / ||delta||_2 and the high-z energy share."""
    rows = []
    for stored in deltas.values():
        delta = stored.astype(np.float32) * storage_scale(epsilon)
        per_l2 = zdiv_per_l2(delta)
        rows.append((per_l2 * float(np.linalg.norm(delta)), per_l2, z_spectrum(delta)[1]))
    return dict(zip(("zdiv", "zdiv_per_l2", "high_z_energy_share"), np.mean(rows, axis=0)))


def main(paths: list[str]) -> None:
    table = []
    for path in paths:
        record, arrays = protect_arrays(Path(path))
        summary = summarise(arrays, record["spec"]["epsilon"])
        table.append({"run": record["run_id"], **{k: round(v, 4) for k, v in summary.items()}})
    print(tabulate(table, headers="keys"))


if __name__ == "__main__":
    main(sys.argv[1:])
