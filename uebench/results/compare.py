"""Regression tracking for CI: ``uebench compare NEW BASELINE`` matches the run records of two
folders by spec and says what moved.

A spec is (protocol, dataset, preset, victim, defense, method with its parameter overrides,
budget); the seeds of a spec are pooled. For every spec in both folders:

- efficacy: the new protected-trained DSC (mean over seeds of the mean over test cases) must not
  rise above the upper end of the baseline's 95 % hierarchical bootstrap interval
  (``stats.interval``) plus ``dsc`` (a higher DSC means the method protects less); the
  ``clean`` control perturbs nothing and is not checked;
- fidelity: the new mean ROI PSNR must not fall more than ``psnr_db`` below the baseline's, and
  no new record may exceed its budget (L-inf above epsilon, or the L0 fraction above its cap);
- the surrogate: a surrogate-based method whose baseline surrogates all reached ``fit_dsc``
  must not have a new one that stopped below it (``records.surrogate_short``: the method no
  longer runs as defined);
- throughput: protect wall seconds divided by the calibration time measured in the same process
  (``throughput.protect.calibration_seconds``, ``uebench.runner.calibration``), median over
  seeds, must
  not exceed the baseline's ratio by more than the fraction ``time``. Specs whose records carry
  no calibration time, or whose baseline protection took under ``min_seconds``, are compared
  on efficacy and fidelity only, and the output says so.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from uebench.contracts.budget import TOLERANCE
from uebench.results import records as rec
from uebench.results import stats
from uebench.results.records import REFERENCE, Record

SpecKey = tuple  # (protocol, *records.Cell)


@dataclass(frozen=True)
class Tolerances:
    """How far a figure may move before it counts as a regression."""

    dsc: float = 0.0  # DSC above the baseline interval's upper end
    psnr_db: float = 0.5  # ROI PSNR below the baseline's mean, in dB
    time: float = 0.25  # calibrated protect time above the baseline's, as a fraction
    min_seconds: float = 1.0  # baseline protections shorter than this are not timed


@dataclass(frozen=True)
class Check:
    """One comparison of one spec: what was compared, both values, the limit, and whether the
    new value is past it."""

    spec: str
    check: str
    baseline: str
    new: str
    limit: str
    moved: bool


@dataclass
class Comparison:
    """Every check made, the specs compared, and notes on what was not compared."""

    checks: list[Check] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Check]:
        return [c for c in self.checks if c.moved]


class CompareError(ValueError):
    """Nothing to compare: the two folders share no spec (an unreadable folder or record is
    ``records.RecordError``)."""


def spec_key(record: Record) -> SpecKey:
    """The spec a record is matched on: its protocol and board cell (seeds are pooled)."""
    return (rec.protocol_of(record), *rec.cell(record))


def spec_label(key: SpecKey) -> str:
    """``voxshield / unet / brats-mni / none / 4/255 / quick`` (protocol shown when not 2)."""
    protocol, dataset, preset, victim, defense, method, budget = key
    label = f"{method} / {victim} / {dataset} / {defense} / {budget} / {preset}"
    return label if protocol == 2 else f"{label} (protocol {protocol})"


def group(records: list[Record]) -> dict[SpecKey, list[Record]]:
    """Records by spec."""
    groups: dict[SpecKey, list[Record]] = defaultdict(list)
    for record in records:
        groups[spec_key(record)].append(record)
    return dict(groups)


def _seed_scores(records: list[Record]) -> list[dict[str, float]]:
    """Per-case protected-trained foreground-mean DSC, one dict per record (seed)."""
    return [stats.case_scores(r["efficacy"]["protected_trained"]["per_case"],
                              rec.class_names(r)) for r in records]


def check_efficacy(label: str, new: list[Record], base: list[Record], tol: Tolerances
                   ) -> Check | None:
    """Protected-trained DSC against the baseline's 95 % interval; None for the reference
    (``clean``: it perturbs nothing)."""
    if rec.role(new[0]) == REFERENCE:
        return None
    mean, low, high = stats.interval(_seed_scores(base))
    new_mean = stats.interval(_seed_scores(new))[0]
    limit = high + tol.dsc
    return Check(label, "protected DSC", f"{mean:.3f} [{low:.3f}, {high:.3f}]", f"{new_mean:.3f}",
                 f"<= {limit:.3f}", bool(new_mean > limit))


def _finite_mean(values: list[Any]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def check_psnr(label: str, new: list[Record], base: list[Record], tol: Tolerances
               ) -> Check | None:
    """Mean ROI PSNR against the baseline's less the tolerance; None when either side has no
    finite PSNR (no change at all)."""
    base_psnr = _finite_mean([r["fidelity"].get("psnr_roi") for r in base])
    new_psnr = _finite_mean([r["fidelity"].get("psnr_roi") for r in new])
    if math.isnan(base_psnr) or math.isnan(new_psnr):
        return None
    limit = base_psnr - tol.psnr_db
    return Check(label, "ROI PSNR (dB)", f"{base_psnr:.2f}", f"{new_psnr:.2f}", f">= {limit:.2f}",
                 bool(new_psnr < limit))


def check_surrogate(label: str, new: list[Record], base: list[Record]) -> Check | None:
    """Whether the method's surrogate still reaches fit_dsc: moved when a new record's
    surrogate stopped below it while every baseline record's reached it (the method stopped
    running as defined); None for a method without a surrogate."""
    if all(rec.surrogate(r) is None for r in new + base):
        return None
    new_short = sum(rec.surrogate_short(r) for r in new)
    base_short = sum(rec.surrogate_short(r) for r in base)
    return Check(label, "surrogate below fit_dsc (seeds)", f"{base_short} of {len(base)}",
                 f"{new_short} of {len(new)}", "0" if base_short == 0 else "-",
                 bool(new_short and not base_short))


def budget_excess(record: Record) -> tuple[str, float, float]:
    """(norm, measured, cap) of a record's budget: L-inf against epsilon, or the L0 fraction
    against its cap."""
    budget, fidelity = rec.budget_info(record), record["fidelity"]
    if rec.norm(record) == "l0":
        return "L0 fraction", float(fidelity.get("l0_fraction") or 0.0), budget["max_fraction"]
    return "L-inf", float(fidelity.get("linf") or 0.0), float(budget["epsilon"])


def check_budget(label: str, new: list[Record]) -> Check:
    """The largest budget use over the new records; moved when any is over its cap."""
    norm, value, cap = max((budget_excess(r) for r in new), key=lambda b: b[1] - b[2])
    return Check(label, norm, "-", f"{value:.6g}", f"<= {cap:.6g}", bool(value > cap + TOLERANCE))


def calibrated_time(record: Record) -> tuple[float, float] | None:
    """(protect wall seconds, calibration seconds) of a record; None without calibration."""
    protect = record.get("throughput", {}).get("protect", {})
    wall, calibration = protect.get("wall_seconds"), protect.get("calibration_seconds")
    if not wall or not calibration:
        return None
    return float(wall), float(calibration)


def check_throughput(label: str, new: list[Record], base: list[Record], tol: Tolerances
                     ) -> Check | str:
    """Median (protect seconds / calibration seconds) against the baseline's; a note (str)
    when the spec cannot be timed."""
    new_times = [calibrated_time(r) for r in new]
    base_times = [calibrated_time(r) for r in base]
    if None in new_times or None in base_times:
        return "no calibration time"
    if statistics.median(w for w, _ in base_times) < tol.min_seconds:
        return f"baseline protection under {tol.min_seconds:g} s"
    base_ratio = statistics.median(w / c for w, c in base_times)
    new_ratio = statistics.median(w / c for w, c in new_times)
    limit = base_ratio * (1 + tol.time)
    return Check(label, "protect time / calibration", f"{base_ratio:.1f}", f"{new_ratio:.1f}",
                 f"<= {limit:.1f}", bool(new_ratio > limit))


def _listing(labels: list[str], shown: int = 5) -> str:
    more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
    return "; ".join(labels[:shown]) + more


def compare(new_dir: Path, baseline_dir: Path, tol: Tolerances | None = None) -> Comparison:
    """Compare the records of ``new_dir`` with those of ``baseline_dir``, spec by spec."""
    tol = tol or Tolerances()
    new_groups = group(rec.load_records(new_dir, "NEW"))
    base_groups = group(rec.load_records(baseline_dir, "BASELINE"))
    shared = sorted(set(new_groups) & set(base_groups), key=spec_label)
    if not shared:
        raise CompareError(f"no spec of {new_dir} matches one of {baseline_dir} (specs match on "
                           "method and params, victim, dataset, defense, budget, preset and "
                           "protocol)")
    result = Comparison()
    untimed: dict[str, list[str]] = defaultdict(list)
    for key in shared:
        label, new, base = spec_label(key), new_groups[key], base_groups[key]
        result.specs.append(label)
        timed = check_throughput(label, new, base, tol)
        if isinstance(timed, str):
            untimed[timed].append(label)
            timed = None
        candidates = [check_efficacy(label, new, base, tol), check_psnr(label, new, base, tol),
                      check_budget(label, new), check_surrogate(label, new, base), timed]
        result.checks.extend(c for c in candidates if c is not None)
    for reason, labels in untimed.items():
        result.notes.append(f"{len(labels)} spec(s) compared on efficacy and fidelity only "
                            f"({reason}): {_listing(labels)}")
    for role, keys in (("NEW", set(new_groups) - set(base_groups)),
                       ("BASELINE", set(base_groups) - set(new_groups))):
        if keys:
            result.notes.append(f"{len(keys)} spec(s) only in {role}, not compared: "
                                f"{_listing(sorted(spec_label(k) for k in keys))}")
    return result


def render(result: Comparison) -> str:
    """The table of what moved (or, when nothing did, one line per spec), the notes, and a
    verdict line."""
    headers = ["spec", "check", "baseline", "new", "limit"]
    moved = result.regressions
    if moved:
        table = tabulate([(c.spec, c.check, c.baseline, c.new, c.limit) for c in moved], headers,
                         disable_numparse=True)
        verdict = (f"REGRESSION: {len(moved)} check(s) moved in "
                   f"{len({c.spec for c in moved})} of {len(result.specs)} spec(s)")
    else:
        rows = defaultdict(dict)
        for c in result.checks:
            rows[c.spec][c.check] = f"{c.new} ({c.limit})"
        columns = ["protected DSC", "ROI PSNR (dB)", "surrogate below fit_dsc (seeds)",
                   "protect time / calibration"]
        table = tabulate([(spec, *(rows[spec].get(col, "-") for col in columns), "ok")
                          for spec in result.specs], ["spec", *columns, "verdict"],
                         disable_numparse=True)
        verdict = f"no regression: {len(result.checks)} checks over {len(result.specs)} spec(s)"
    return "\n".join([table, *(f"note: {n}" for n in result.notes), verdict])
