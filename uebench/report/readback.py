"""What the report reads back besides the records: a run's stored deltas from the stage cache
(same key as the pipeline, :func:`uebench.runner.stages.protection_key`), its clean cases
from the dataset cache, and the z spectra of the stored deltas.

Nothing is recomputed: a protection that is not in the cache (for a trained method that
would be a full ``fit``, minutes to hours) is reported as missing, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uebench.contracts.budget import storage_scale
from uebench.kit.spectra import z_spectrum, zdiv_per_l2
from uebench.results import records as rec
from uebench.results.records import REFERENCE, Record
from uebench.runner.store import StageCache, default_cache_root


def cached_deltas(record: Record, cache_root: Path
                  ) -> tuple[dict[str, np.ndarray] | None, str]:
    """The stored deltas of the record's protection stage, read from ``cache_root`` under the
    pipeline's key, and a reason when there are none (the record's plugins do not resolve here,
    or the stage is not in the cache)."""
    from uebench.runner.data import fingerprint
    from uebench.runner.pipeline import RunSpec, resolve
    from uebench.runner.stages import protection_key

    try:
        spec = RunSpec(**record["spec"])
        resolved = resolve(spec)
        key = protection_key(fingerprint(resolved.dataset, resolved.preset), resolved.method,
                             spec.seed, resolved.preset)
    except (KeyError, TypeError, ValueError, OSError) as error:
        return None, f"the run cannot be resolved here ({error})"
    arrays = StageCache(cache_root).get_arrays("protect", key)
    if arrays is None:
        return None, f"no cached protection for {record['run_id']} in {cache_root}"
    return arrays, ""


def clean_cases(record: Record, cache_root: Path) -> dict[str, Any]:
    """The record's dataset cases by id, from ``cache_root`` when the run kept its data there,
    else from the shared dataset cache (``$UEBENCH_CACHE``), generating them as the pipeline
    does when neither has them."""
    from uebench.contracts.presets import get_preset
    from uebench.runner.data import fingerprint, load_cases, resolve_dataset

    dataset = resolve_dataset(record["spec"]["dataset"])
    preset = get_preset(record["spec"]["preset"])
    local = StageCache(cache_root)
    has_local = local.get_arrays("datasets", fingerprint(dataset, preset)) is not None
    cases = load_cases(dataset, preset, local if has_local else StageCache(default_cache_root()))
    return {"dataset": dataset, "cases": {c.id: c for c in cases}}


@dataclass
class Example:
    """One training case of a run as the victim saw it: the clean image, its label, the
    released delta (clean + stored delta, clamped and checked, minus clean) and the channel
    where the delta is largest."""

    case_id: str
    image: np.ndarray
    label: np.ndarray
    delta: np.ndarray
    channel: int
    channel_name: str


def example_case(record: Record, cache_root: Path) -> tuple[Example | None, str]:
    """The first cached training case of ``record``'s protection, or None and why not."""
    stored, reason = cached_deltas(record, cache_root)
    if stored is None:
        return None, reason
    data = clean_cases(record, cache_root)
    case_id = next((cid for cid in sorted(stored) if cid in data["cases"]), None)
    if case_id is None:
        return None, f"the cached deltas of {record['run_id']} name no case of the dataset"
    case = data["cases"][case_id]
    delta = rec.budget_of(record).release(case.image, stored[case_id],
                                          record["run_id"]) - case.image
    channel = int(np.abs(delta).reshape(len(delta), -1).max(axis=1).argmax())
    names = list(getattr(data["dataset"], "modalities", ()) or ())
    channel_name = names[channel] if channel < len(names) else f"channel {channel}"
    return Example(case_id, case.image, case.label, delta, channel, channel_name), ""


def spectrum_runs(records: list[Record], example: Record) -> list[list[Record]]:
    """Per method label, the candidate L-inf runs on the example's dataset and preset, largest
    budget first then lowest seed (a delta does not depend on the victim or the defense); the
    reference (no perturbation) has no spectrum."""
    spec = example["spec"]
    chosen: dict[str, list[Record]] = {}
    for record in records:
        other = record["spec"]
        if (other["dataset"], other["preset"]) != (spec["dataset"], spec["preset"]):
            continue
        if rec.norm(record) != "linf" or rec.role(record) == REFERENCE:
            continue
        chosen.setdefault(rec.method_label(record), []).append(record)
    return [sorted(runs, key=lambda r: (-r["spec"]["epsilon"], r["spec"]["seed"],
                                        r["run_id"]))
            for _, runs in sorted(chosen.items())]


@dataclass
class Spectrum:
    """The mean z amplitude spectrum (in units of eps) of one run's stored deltas, and its
    summaries: the high-z energy share and ``zdiv / ||delta||_2``, means over the cases."""

    label: str
    record: Record
    amplitude: np.ndarray
    cases: int
    high_z_energy_share: float
    zdiv_per_l2: float


def delta_spectra(records: list[Record], example: Record, cache_root: Path
                  ) -> list[Spectrum]:
    """Per method label, the spectrum of the largest-budget run whose protection is cached.
    The deltas are the stored int8 levels times the storage scale, as in
    ``benchmarks/delta_spectrum.py`` (no clean volume needed)."""
    spectra = []
    for runs in spectrum_runs(records, example):
        for record in runs:
            stored, _ = cached_deltas(record, cache_root)
            if stored is None:
                continue
            eps = float(record["spec"]["epsilon"])
            amplitudes, shares, zdivs = [], [], []
            for case_id in sorted(stored):
                delta = stored[case_id].astype(np.float32) * np.float32(storage_scale(eps))
                amplitude, share = z_spectrum(delta)
                amplitudes.append(amplitude / eps)
                shares.append(share)
                zdivs.append(zdiv_per_l2(delta))
            spectra.append(Spectrum(rec.method_label(record), record,
                                    np.mean(amplitudes, axis=0), len(stored),
                                    float(np.mean(shares)), float(np.mean(zdivs))))
            break
    return spectra
