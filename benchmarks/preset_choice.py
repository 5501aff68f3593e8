"""Which preset should the boards run? Resolution per CPU-hour, from the committed records
(issue 32, section 2).

For every preset with clean, random-roi and protected unet records at several seeds (quick,
canary and the scale study's points, the recipe walk's ``walk-authors``, and protocol-4 canary
records once they land under ``leaderboards/recipe/ablation/records``) this measures:

* the clean-trained victim's seed-to-seed SD of the mean test DSC;
* the SD over seeds of the paired difference (protected-trained minus random-roi-trained,
  mean over the shared test cases, per seed) in the cells where the method has no effect
  (``null_cell``: em and voxshield at 4/255, random at any budget), pooled over those cells,
  and the half-width of those cells' 95 % interval as the boards compute it
  (``stats.paired_comparison``, the hierarchical bootstrap) at the seeds run;
* the seeds a cell needs to detect a 0.05 paired difference to random-roi with power 0.8 at
  one-sided alpha 0.05: ``n = ((z_a + z_b) sd / 0.05)^2`` rounded up (``seeds_needed``), the
  exact one-sample t-test's answer (``seeds_needed_t``, scipy's noncentral t), and the range
  that the SD's chi-square 95 % interval gives (``sd_interval``);
* the cost of a run in CPU seconds (``wall_seconds x threads`` of the records: they keep no
  process CPU time), each victim training counted once (clean-trained records of one preset
  and seed share one training), and from it the CPU-hours of one board cell and of the
  methods board (13 methods x 4 budgets on unet) at 3 seeds and at the seeds needed;
* which presets SwinUNETR (the transfer board's victim) can run at (``victims/monai_nets``:
  ``min_size`` 64, ``size_multiple`` 32);
* the boards' own tests (p < 0.05: protocol 3's bootstrap, protocol 4's t-test) simulated at 3
  seeds and at the seeds run: their false-positive rates and power (``test_rates``).

``pick`` chooses the board's preset: the fewest board CPU-hours at the t-test's seeds (at
least 3) among the unet presets of uebench's victim recipe whose clean-trained victim passes
the reference bar on every seed; for the transfer board, among those SwinUNETR takes.
Per-case DSCs are read as the boards read them (``stats.case_scores``, ``records.class_names``)
and the paired per-case differences with ``stats`` too. One preset of our own, proposed from
these numbers, is a projection (variance components of the null cells, ``project_test_cases``),
not a measurement, and is labelled so.

    python -m benchmarks.preset_choice                      # prints the README
    python -m benchmarks.preset_choice --out leaderboards/preset-choice
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from tabulate import tabulate

from benchmarks import sweep_cost
from uebench.contracts import scaling
from uebench.results import records as rec
from uebench.results import stats
from uebench.results.records import REFERENCE, Record, RecordError

ROOT = Path(__file__).resolve().parent.parent
LEADERBOARDS = ROOT / "leaderboards"
SWEEP_LOG = LEADERBOARDS / "recipe" / "sweep-log.txt"
PROTOCOL_1 = LEADERBOARDS / "archive" / "protocol-1" / "records"

DELTA = 0.05
"""The paired difference to random-roi a cell should detect (DSC)."""
ALPHA = stats.ALPHA
"""One-sided level of the test (the boards' ``stats.ALPHA``)."""
POWER = 0.8
LEVEL = 0.95
"""Of the SD's chi-square interval."""
CONTROL = "random-roi"
FOUR = 4 / 255

BOARD_METHODS = ("ar", "clean", "em", "em-classwise", "lsp", "random", "random-roi", "rem",
                 "slicewise", "slicewise-tap", "tap", "voxshield", "voxshield-pgd")
"""The issue's methods board: every L-inf method of ``uebench list methods`` (``ops`` is L0)."""
BOARD_BUDGETS = 4
MEASURED_PROTECTIONS = ("voxshield", "em", CONTROL)

SWINUNETR_MIN_SIZE, SWINUNETR_SIZE_MULTIPLE = 64, 32
"""``victims/monai_nets.SwinUNETRVictim.min_size`` and ``size_multiple`` (read without torch)."""

NULL_RULE = ("em and voxshield at 4/255 and random at every budget, the issue's cells without "
             "an effect; each cell's variance is taken about its own mean and the cells are "
             "pooled with their degrees of freedom")


# ------------------------------------------------------------------------ power and seeds


def seeds_needed(sd: float, delta: float = DELTA, alpha: float = ALPHA,
                 power: float = POWER) -> int:
    """Seeds for a one-sided paired test to detect ``delta`` with ``power`` at ``alpha`` when
    the per-seed paired difference has SD ``sd``: ``((z_a + z_b) sd / delta)^2`` rounded up
    (the normal approximation; at least 1)."""
    if not sd > 0:
        return 1
    z = scipy_stats.norm.ppf(1 - alpha) + scipy_stats.norm.ppf(power)
    return max(1, math.ceil((z * sd / delta) ** 2 - 1e-9))


def power_t(n: int, sd: float, delta: float = DELTA, alpha: float = ALPHA) -> float:
    """Power of the one-sided one-sample t-test over ``n`` per-seed differences (SD ``sd``)
    against a true mean difference ``delta`` (scipy's noncentral t)."""
    if n < 2:
        return math.nan
    df = n - 1
    critical = scipy_stats.t.ppf(1 - alpha, df)
    return float(scipy_stats.nct.sf(critical, df, delta / sd * math.sqrt(n)))


def seeds_needed_t(sd: float, delta: float = DELTA, alpha: float = ALPHA,
                   power: float = POWER, most: int = 10_000) -> int:
    """The smallest number of seeds (>= 2) at which the one-sided t-test reaches ``power``."""
    if not sd > 0:
        return 2
    for n in range(2, most + 1):
        if power_t(n, sd, delta, alpha) >= power:
            return n
    return most


def t_half_width_ratio(seeds: int, to: int, level: float = LEVEL) -> float:
    """How a t interval's half-width at ``to`` seeds compares with one at ``seeds``, the SD
    the same."""
    def half(n: int) -> float:
        return float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) / math.sqrt(n)
    return half(to) / half(seeds)


def sd_interval(sd: float, df: int, level: float = LEVEL) -> tuple[float, float]:
    """The chi-square ``level`` interval of a standard deviation ``sd`` estimated with ``df``
    degrees of freedom (normal data)."""
    if df < 1 or not np.isfinite(sd):
        return math.nan, math.nan
    tail = (1 - level) / 2
    low = sd * math.sqrt(df / scipy_stats.chi2.ppf(1 - tail, df))
    high = sd * math.sqrt(df / scipy_stats.chi2.ppf(tail, df))
    return low, high


def pooled_sd(sds: list[float], dfs: list[int]) -> tuple[float, int]:
    """The SD pooled over cells (variances weighted by their degrees of freedom) and its
    degrees of freedom."""
    total = sum(dfs)
    if not total:
        return math.nan, 0
    return math.sqrt(sum(d * s * s for s, d in zip(sds, dfs)) / total), total


def variance_components(differences: np.ndarray) -> tuple[float, float, float]:
    """``(seed, case, residual)`` variances of per-case differences ``[seeds, cases]`` (two-way
    ANOVA without replication, method of moments, negative estimates set to 0): a seed's mean
    difference has variance ``seed + residual / cases``."""
    values = differences[:, np.isfinite(differences).all(axis=0)]
    n_seeds, n_cases = values.shape
    grand = values.mean()
    rows, columns = values.mean(axis=1), values.mean(axis=0)
    residual = values - rows[:, None] - columns[None, :] + grand
    ms_residual = (residual ** 2).sum() / ((n_seeds - 1) * (n_cases - 1))
    ms_seed = n_cases * ((rows - grand) ** 2).sum() / (n_seeds - 1)
    ms_case = n_seeds * ((columns - grand) ** 2).sum() / (n_cases - 1)
    return (max(0.0, (ms_seed - ms_residual) / n_cases),
            max(0.0, (ms_case - ms_residual) / n_seeds), float(ms_residual))


def project_test_cases(seed_var: float, residual_var: float, cases: int) -> float:
    """The per-seed SD of the paired difference at ``cases`` test cases, from the variance
    components (a projection: the components are estimated at the preset's own test split)."""
    return math.sqrt(seed_var + residual_var / cases)


def test_rates(components: tuple[float, float, float], seeds: int, cases: int,
               test: str = stats.BOOTSTRAP, delta: float = DELTA, reps: int = 300,
               seed: int = 0) -> tuple[float, float]:
    """(false-positive rate, power) of a board's paired ``test`` (``stats.paired_comparison``'s
    one-sided p < ``ALPHA``) at ``seeds`` and ``cases``, simulated: per-case differences
    ``-effect + seed + case + residual``, normal with the ``components``' variances
    (``variance_components``), at effect 0 and at ``delta``; ``reps`` draws each (the same
    draws for every ``test`` at one ``seed``)."""
    rng = np.random.default_rng(seed)
    seed_sd, case_sd, residual_sd = (math.sqrt(v) for v in components)
    zero = {s: {str(c): 0.0 for c in range(cases)} for s in range(seeds)}
    rates = []
    for effect in (0.0, delta):
        hits = 0
        for _ in range(reps):
            values = (-effect + rng.normal(0, seed_sd, (seeds, 1))
                      + rng.normal(0, case_sd, (1, cases))
                      + rng.normal(0, residual_sd, (seeds, cases)))
            method = {s: {str(c): values[s, c] for c in range(cases)} for s in range(seeds)}
            hits += stats.paired_comparison(method, zero, test)[0] < ALPHA
        rates.append(hits / reps)
    return rates[0], rates[1]


# ------------------------------------------------------------------------------ loading


def threads(device: str) -> int:
    """The torch threads a record names (``cpu (2 threads, x86_64)``); 1 when it names none."""
    found = re.search(r"(\d+) threads", device or "")
    return int(found.group(1)) if found else 1


def host(record: Record) -> str:
    """The CPU a record names: model and, where recorded, family / model / stepping."""
    environment = record.get("environment", {})
    cpu_id = environment.get("cpu_id")
    model = environment.get("cpu_model") or "?"
    return f"{model} {' '.join(cpu_id.split()[:4])}" if cpu_id else f"{model} (id not recorded)"


def usable(record: Record, overrides: bool = False) -> bool:
    """A CPU record of protocol 3 or later, without a defense, and (unless ``overrides``)
    without method overrides."""
    spec = record["spec"]
    return (rec.protocol_of(record) >= 3 and rec.device_kind(record) == "cpu"
            and spec["defense"] == "none" and rec.norm(record) == "linf"
            and (overrides or not spec.get("method_params")))


def load(root: Path = LEADERBOARDS, overrides: bool = False
         ) -> dict[tuple[str, str, str], list[Record]]:
    """``(preset, victim, folder) -> records``: every run record under ``root`` (``**/*.json``,
    the archived protocol-3 board included) that ``usable`` keeps."""
    found: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for path in sorted(root.glob("**/*.json")):
        relative = path.relative_to(root)
        try:
            record = rec.read_record(path)
        except RecordError:
            continue  # manifests, calibrations, profiles
        if usable(record, overrides):
            spec = record["spec"]
            found[(spec["preset"], spec["victim"], str(relative.parent))].append(record)
    return dict(found)


def primary(groups: dict[tuple[str, str, str], list[Record]]
            ) -> dict[tuple[str, str, int], tuple[str, list[Record]]]:
    """Per (preset, victim, protocol): the folder with the most records (the study that ran
    the preset), with its records; folders with fewer hold repeats, kept for the host check.
    Protocols apart: a protocol-4 canary is another row than the scale study's protocol-3
    one."""
    split: dict[tuple[str, str, int, str], list[Record]] = defaultdict(list)
    for (preset, victim, folder), records in groups.items():
        for record in records:
            split[(preset, victim, rec.protocol_of(record), folder)].append(record)
    best: dict[tuple[str, str, int], tuple[str, list[Record]]] = {}
    for (preset, victim, protocol, folder), records in sorted(split.items()):
        key = (preset, victim, protocol)
        if key not in best or len(records) > len(best[key][1]):
            best[key] = (folder, records)
    return best


# ---------------------------------------------------------------------------- resolution


@dataclass
class Cells:
    """Per-seed per-case scores of one preset and victim: the protected cells keyed by
    (method, epsilon), and the clean-trained victim per seed."""

    protected: dict[tuple[str, float], dict[int, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(dict))
    clean: dict[int, dict[str, float]] = field(default_factory=dict)
    test_cases: int = 0


def cells(records: list[Record]) -> Cells:
    """The boards' reading of ``records``' per-case DSCs (``stats.case_scores``)."""
    out = Cells()
    for record in records:
        spec, names = record["spec"], rec.class_names(record)
        efficacy = record["efficacy"]
        out.protected[(rec.method_label(record), spec["epsilon"])][spec["seed"]] = (
            stats.case_scores(efficacy["protected_trained"]["per_case"], names))
        out.clean.setdefault(spec["seed"],
                             stats.case_scores(efficacy["clean_trained"]["per_case"], names))
        out.test_cases = max(out.test_cases, efficacy["clean_trained"].get("n_cases", 0))
    return out


def null_cell(method: str, epsilon: float) -> bool:
    """Whether a cell is one the issue names as without an effect (pooled for the SD)."""
    return (method in ("em", "voxshield") and math.isclose(epsilon, FOUR)) or method == "random"


def seed_means(scores: dict[int, dict[str, float]]) -> np.ndarray:
    """Mean test DSC per seed (over the test cases, NaN cases left out), in seed order."""
    return np.array([np.nanmean(list(scores[s].values())) for s in sorted(scores)])


def paired_cells(found: Cells) -> pd.DataFrame:
    """One row per protected cell with a matched random-roi cell: per-seed differences, their
    SD, the interval half-width and p of the protocol-4 boards' test (``stats.paired_comparison``,
    the t-test: the boards this choice is for), whether it is a null cell, and its variance
    components."""
    rows = []
    for (method, epsilon), seeds in sorted(found.protected.items()):
        control = found.protected.get((CONTROL, epsilon))
        if method in (CONTROL, "clean") or control is None:
            continue
        differences = stats._differences(seeds, control)
        if len(differences) < 2:
            continue
        per_seed = np.nanmean(differences, axis=1)
        p_value, mean, low, high = stats.paired_comparison(seeds, control, stats.T_TEST)
        seed_var, case_var, residual_var = variance_components(differences)
        rows.append({
            "method": method, "epsilon": rec.epsilon_label(epsilon), "eps": epsilon,
            "seeds": len(per_seed), "cases": differences.shape[1],
            "per_seed": " / ".join(f"{d:+.3f}" for d in per_seed),
            "mean": mean, "sd": float(np.std(per_seed, ddof=1)),
            "half_width": (high - low) / 2, "p_below": p_value,
            "null": null_cell(method, epsilon),
            "seed_var": seed_var, "case_var": case_var, "residual_var": residual_var,
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- cost


def _training_seconds(stage: float, training: dict, epochs: int, n_threads: int
                      ) -> tuple[float, float]:
    """(training, the rest of the victim stage: evaluation, the logged test DSC curve, the
    val-loss selection) in CPU seconds (wall x threads)."""
    train = training["seconds_per_epoch"] * epochs
    return train * n_threads, max(0.0, stage - train) * n_threads


def costs(records: list[Record]) -> dict[str, float]:
    """CPU seconds (wall x threads) of one preset's stages, medians over its distinct stages
    (a loaded host makes single runs slow; a median keeps one slow run out): protection per
    method (the mean over budgets of each budget's median over seeds), the clean and the
    protected victim's training, and the rest of a victim stage (evaluation and logging).
    Each victim training is counted once: a clean-trained victim is shared by the records of
    its preset and seed (identified by its exact stage time and epoch time, which a cached
    stage repeats), and a reference record's protected victim is its clean one."""
    protect: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    clean: dict[tuple, tuple[float, float]] = {}
    protected: dict[tuple, tuple[float, float]] = {}
    for record in records:
        spec, throughput = record["spec"], record["throughput"]
        stage_seconds = record["timings"]["stage_seconds"]
        victim_threads = threads(record["environment"].get("device", ""))
        epochs = int(record["preset"]["epochs"])
        training = throughput["victim_training"]
        key = (spec["seed"], stage_seconds["clean_victim"],
               training["clean"]["seconds_per_epoch"])
        clean.setdefault(key, _training_seconds(stage_seconds["clean_victim"],
                                                training["clean"], epochs, victim_threads))
        if rec.role(record) == REFERENCE:
            continue
        method = rec.method_label(record)
        protect[method][spec["epsilon"]].append(
            throughput["protect"]["wall_seconds"] * threads(throughput["protect"]["device"]))
        key = (method, spec["epsilon"], spec["seed"], stage_seconds["protected_victim"])
        protected.setdefault(key, _training_seconds(stage_seconds["protected_victim"],
                                                    training["protected"], epochs,
                                                    victim_threads))
    out = {f"protect_{m}": float(np.mean([statistics.median(v) for v in protect[m].values()]))
           for m in MEASURED_PROTECTIONS if m in protect}
    out["protect_budgets"] = ", ".join(rec.epsilon_label(e) for e in sorted(
        {e for m in MEASURED_PROTECTIONS for e in protect.get(m, {})}))
    out["clean_train"] = statistics.median(t for t, _ in clean.values())
    out["protected_train"] = statistics.median(t for t, _ in protected.values())
    out["evaluation"] = statistics.median(r for _, r in [*clean.values(), *protected.values()])
    out["victim_trainings"] = len(clean) + len(protected)
    return out


def protocol_1_ratios(folder: Path = PROTOCOL_1) -> dict[str, float]:
    """Each method's protection time over em's (medians; the archived protocol-1 quick unet
    records, all on one host at 2 threads): the estimate for the board's methods that no
    candidate preset measured."""
    times: dict[str, list[float]] = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        record = rec.read_record(path)
        if record["spec"]["victim"] == "unet":
            times[record["spec"]["method"]].append(record["throughput"]["protect"]["wall_seconds"])
    em = statistics.median(times["em"])
    return {method: statistics.median(values) / em for method, values in times.items()}


def protection_seconds(cost: dict[str, float], ratios: dict[str, float]) -> dict[str, float]:
    """Protection CPU seconds per board method at one preset: measured for voxshield, em and
    random-roi (random as random-roi; clean none), em's times the protocol-1 ratio otherwise."""
    out = {}
    for method in BOARD_METHODS:
        if method == "clean":
            out[method] = 0.0
        elif f"protect_{method}" in cost:
            out[method] = cost[f"protect_{method}"]
        elif method == "random":
            out[method] = cost[f"protect_{CONTROL}"]
        else:
            out[method] = cost["protect_em"] * ratios[method]
    return out


def board_hours(cost: dict[str, float], ratios: dict[str, float], seeds: int) -> float:
    """CPU hours of the methods board (``BOARD_METHODS`` x ``BOARD_BUDGETS`` on unet) at
    ``seeds``: per seed one clean victim, and per other method and budget its protection and
    one protected victim."""
    victim = cost["protected_train"] + cost["evaluation"]
    per_seed = cost["clean_train"] + cost["evaluation"] + BOARD_BUDGETS * sum(
        seconds + victim for method, seconds in protection_seconds(cost, ratios).items()
        if method != "clean")
    return seeds * per_seed / 3600


def cell_hours(cost: dict[str, float], seeds: int, method: str = "voxshield") -> float:
    """CPU hours of one board cell with what it is compared to, at ``seeds``: the method's
    protection and victim, the matched random-roi's, and the clean-trained reference."""
    victim = cost["protected_train"] + cost["evaluation"]
    per_seed = (cost[f"protect_{method}"] + cost[f"protect_{CONTROL}"] + 2 * victim
                + cost["clean_train"] + cost["evaluation"])
    return seeds * per_seed / 3600


def sweep_log_check(records: list[Record], path: Path = SWEEP_LOG) -> pd.DataFrame:
    """The recipe sweep's process CPU time (``/usr/bin/time``: user + system) per seed against
    the same runs' wall x threads summed from their records, each stage once: how far the
    records' proxy is from CPU time. Only the timed steps that ran something for one seed at
    one preset (a step of several shares its records' stages with other steps), and of each
    its budgets' records."""
    if not path.exists():
        return pd.DataFrame()
    logged = sweep_cost.steps(path.read_text())
    rows = []
    for step in logged[(logged["runs"] > 0) & logged["wall s"].notna()].to_dict("records"):
        command = step["command"]
        seeds, presets = (re.findall(rf"--{option} (\S+)", command)
                          for option in ("seed", "preset"))
        if len(seeds) != 1 or len(presets) != 1:
            continue
        seed, preset = int(seeds[0]), presets[0]
        budgets = set(re.findall(r"--eps (\S+)", command))
        runs = [r for r in records if r["spec"]["preset"] == preset
                and r["spec"]["seed"] == seed and rec.budget_label(r) in budgets]
        if not runs:
            continue
        proxy = _proxy_seconds(runs)
        rows.append({"preset": preset, "seed": seed, "runs": len(runs),
                     "workers": int(re.search(r"--workers (\d+)", command).group(1)),
                     "recorded threads": "/".join(sorted({str(threads(
                         r["environment"]["device"])) for r in runs})),
                     "sweep wall s": round(step["wall s"]), "process CPU s": round(step["CPU s"]),
                     "records' wall x threads s": round(proxy),
                     "proxy / CPU": round(proxy / step["CPU s"], 2)})
    return pd.DataFrame(rows)


def _proxy_seconds(runs: list[Record]) -> float:
    """Wall x threads of every stage the runs computed, each once: a stage read from the
    cache (another record's, or the clean victim a reference record reuses as its protected
    one) repeats the exact seconds of the stage that computed it. (``cached_stages`` does not
    tell: a sweep's workers compute the stages and its records read them back.)"""
    seen, total = set(), 0.0
    for record in runs:
        n_threads = threads(record["environment"]["device"])
        for seconds in record["timings"]["stage_seconds"].values():
            if seconds is not None and seconds not in seen:
                seen.add(seconds)
                total += seconds * n_threads
    return total


# ------------------------------------------------------------------------------- the table


def swinunetr_fits(volume: int) -> bool:
    """Whether SwinUNETR (the transfer board's victim) takes cubes of edge ``volume``."""
    return volume >= SWINUNETR_MIN_SIZE and volume % SWINUNETR_SIZE_MULTIPLE == 0


def axis_of(preset: str) -> str:
    """Where ``preset`` lies in the scale study (``volume 48``), or ``-``."""
    where = scaling.points().get(preset)
    if not where:
        return "-"
    return "base" if preset == scaling.BASE else "; ".join(f"{a} {v}" for a, v in where)


def seeds_to_run(sd: float) -> int:
    """The seeds a cell runs: the t-test's seeds, at least the boards' ``MIN_SEEDS``."""
    return max(seeds_needed_t(sd), stats.MIN_SEEDS)


def preset_row(preset: str, victim: str, folder: str, records: list[Record],
               ratios: dict[str, float]) -> tuple[dict, pd.DataFrame]:
    """The table's row for one preset and victim, and its paired cells."""
    found = cells(records)
    clean = seed_means(found.clean)
    weak = {r["spec"]["seed"] for r in records if r["efficacy"].get("reference_warning")}
    pairs = paired_cells(found)
    null = pairs[pairs["null"]] if not pairs.empty else pairs
    sd, df = pooled_sd(list(null["sd"]), [n - 1 for n in null["seeds"]])
    low, high = sd_interval(sd, df)
    run = seeds_to_run(sd)
    cost = costs(records)
    volume = int(records[0]["preset"]["volume_size"])
    at_3 = (null["half_width"] * [t_half_width_ratio(n, 3) for n in null["seeds"]]
            if len(null) else pd.Series(dtype=float))  # each cell's half-width at 3 seeds
    half_width = float(at_3.median())
    row = {
        "preset": preset, "victim": victim, "axis": axis_of(preset),
        "protocol": rec.protocol_of(records[0]),
        "recipe": records[0]["preset"].get("recipe", "uebench"), "folder": folder,
        "host": ", ".join(sorted({host(r) for r in records})), "records": len(records),
        "volume": volume, "train_cases": records[0]["dataset"]["split"]["train"],
        "test_cases": found.test_cases, "epochs": int(records[0]["preset"]["epochs"]),
        "clean_seeds": len(clean), "clean_mean": float(clean.mean()),
        "clean_per_seed": " / ".join(f"{v:.3f}" for v in clean),
        "clean_sd": float(np.std(clean, ddof=1)) if len(clean) > 1 else math.nan,
        "weak_clean_seeds": len(weak),
        "null_cells": ", ".join(f"{m} {e}" for m, e in zip(null["method"], null["epsilon"])),
        "null_cells_below": ", ".join(f"{m} {e}" for m, e, p in
                                      zip(null["method"], null["epsilon"], null["p_below"])
                                      if p < ALPHA),
        "paired_sd": sd, "paired_df": df, "paired_sd_lo": low, "paired_sd_hi": high,
        "half_width_3": half_width,
        "half_width_max": float(at_3.max()),
        "power_3": power_t(3, sd),
        "seeds_normal": seeds_needed(sd), "seeds_t": seeds_needed_t(sd),
        "seeds_lo": seeds_needed(low), "seeds_hi": seeds_needed(high),
        "seeds_t_hi": seeds_needed_t(high), "seeds_run": run,
        "half_width_run": half_width * t_half_width_ratio(3, run),
        **cost,
        "run_voxshield": cost.get("protect_voxshield", math.nan) + cost["protected_train"]
        + cost["evaluation"],
        "swinunetr_fits": swinunetr_fits(volume),
    }
    if "protect_voxshield" in cost:
        row.update(cell_h_3=cell_hours(cost, 3), cell_h_run=cell_hours(cost, run))
    if "protect_em" in cost:
        row.update(board_h_3=board_hours(cost, ratios, 3),
                   board_h_run=board_hours(cost, ratios, run),
                   board_h_hi=board_hours(cost, ratios, max(row["seeds_t_hi"],
                                                            stats.MIN_SEEDS)))
    return row, pairs.assign(preset=preset, victim=victim, protocol=row["protocol"])


def analyse(root: Path = LEADERBOARDS) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(one row per preset and victim with clean, random-roi and a protection at several
    seeds; every paired cell; the host check: the clean-trained DSC per seed in every folder
    that ran a preset more than once, method overrides included)."""
    ratios = protocol_1_ratios()
    rows, pairs = [], []
    for (preset, victim, _), (folder, records) in sorted(primary(load(root)).items()):
        methods = {r["spec"]["method"] for r in records}
        if not {"clean", CONTROL} <= methods or len(methods) < 3:
            continue
        row, cell_rows = preset_row(preset, victim, folder, records, ratios)
        if row["clean_seeds"] < 2 or cell_rows.empty:
            continue
        rows.append(row)
        pairs.append(cell_rows)
    table = pd.DataFrame(rows)
    return table, pd.concat(pairs, ignore_index=True), host_check(root, set(table["preset"]))


def host_check(root: Path, presets: set[str]) -> pd.DataFrame:
    """The clean-trained unet's mean test DSC per seed in each folder (and code) that ran one
    of ``presets``, for the presets more than one folder ran."""
    rows = []
    for (preset, victim, folder), records in sorted(load(root, overrides=True).items()):
        if victim != "unet" or preset not in presets:
            continue
        for seed in sorted({r["spec"]["seed"] for r in records}):
            mine = [r for r in records if r["spec"]["seed"] == seed]
            value = seed_means(cells(mine).clean)[0]
            rows.append({"preset": preset, "folder": folder, "seed": seed,
                         "host": ", ".join(sorted({host(r) for r in mine})),
                         "platform": ", ".join(sorted({_kernel_build(r) for r in mine})),
                         "commits": ", ".join(sorted({r["environment"]["git_commit"][:7]
                                                      for r in mine})),
                         "clean_dsc": round(float(value), 4)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    several = frame.groupby("preset")["folder"].nunique()
    return frame[frame["preset"].isin(several[several > 1].index)].reset_index(drop=True)


def _kernel_build(record: Record) -> str:
    """The kernel build a record's platform names (``v1045`` of ``Linux-6.18.44-fc-v1045-...``),
    a hint of the machine when the CPU id is not recorded."""
    found = re.search(r"-(v\d+)-", record.get("environment", {}).get("platform", ""))
    return found.group(1) if found else "?"


def pick(table: pd.DataFrame, transfer: bool = False) -> pd.Series:
    """The board's preset: among the unet rows of uebench's own victim recipe whose
    clean-trained victim passes the reference bar on every seed (no record's
    ``reference_warning``), the fewest board CPU-hours at the seeds a cell needs
    (``seeds_to_run``); for the transfer board only presets SwinUNETR takes. Costs compare
    within one protocol only (protocol 4 runs with the allocator, ~0.72x the CPU of protocol
    3's runs): the candidates are the rows of the protocol that measured the most of them."""
    candidates = table[(table["victim"] == "unet") & (table["recipe"] == "uebench")
                       & (table["weak_clean_seeds"] == 0) & table["board_h_run"].notna()]
    candidates = candidates[candidates["protocol"]
                            == candidates["protocol"].value_counts().idxmax()]
    if transfer:
        candidates = candidates[candidates["swinunetr_fits"]]
    return candidates.sort_values(["board_h_run", "board_h_hi"]).iloc[0]


# ---------------------------------------------------------------------------- projections


def row_of(table: pd.DataFrame, preset: str, victim: str = "unet") -> pd.Series:
    """The table's row of ``preset`` and ``victim`` (of the lowest protocol, the boards')."""
    rows = table[(table["preset"] == preset) & (table["victim"] == victim)]
    return rows.sort_values("protocol").iloc[0]


def null_of(pairs: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """The null cells of ``row``'s preset, victim and protocol."""
    return pairs[(pairs["preset"] == row["preset"]) & (pairs["victim"] == row["victim"])
                 & (pairs["protocol"] == row["protocol"]) & pairs["null"]]


def more_test_cases(table: pd.DataFrame, pairs: pd.DataFrame, row: pd.Series, cases: int
                    ) -> dict[str, float | str]:
    """A projection (not measured): ``base`` with ``cases`` test cases. Each null cell's
    per-seed SD from its variance components (seed + residual / cases), pooled; the seeds it
    needs; its cost with the evaluation scaled by the test cases."""
    null = null_of(pairs, row)
    sd, df = pooled_sd([project_test_cases(s, r, cases)
                        for s, r in zip(null["seed_var"], null["residual_var"])],
                       [n - 1 for n in null["seeds"]])
    run = seeds_to_run(sd)
    cost = {key: row[key] for key in ("protect_voxshield", "protect_em", f"protect_{CONTROL}",
                                      "clean_train", "protected_train", "evaluation")}
    cost["evaluation"] *= cases / row["test_cases"]
    seed_share = float(np.mean([s / (s + r / row["test_cases"]) for s, r in
                                zip(null["seed_var"], null["residual_var"])]))
    return {"preset": f"{row['preset']} with {cases} test cases", "paired_sd": sd, "paired_df": df,
            "seeds_normal": seeds_needed(sd), "seeds_t": seeds_needed_t(sd), "seeds_run": run,
            "board_h_run": board_hours(cost, protocol_1_ratios(), run),
            "seed_share": seed_share}


def swinunetr_at(table: pd.DataFrame, row: pd.Series) -> dict[str, float | str]:
    """A projection (not measured): SwinUNETR as the transfer victim at ``base``. Its victim
    stage costs ``base``'s unet stage times SwinUNETR's / unet's at quick (both measured
    there); the paired SD is quick's SwinUNETR one; a transfer cell is voxshield and
    random-roi protected once, a clean, a protected and a random-roi SwinUNETR per seed."""
    quick_unet, quick_swin = row_of(table, "quick"), row_of(table, "quick", "swinunetr")

    def stage(r: pd.Series) -> float:
        return r["protected_train"] + r["evaluation"]

    ratio = stage(quick_swin) / stage(quick_unet)
    victim = stage(row) * ratio
    run = seeds_to_run(quick_swin["paired_sd"])
    per_seed = row["protect_voxshield"] + row[f"protect_{CONTROL}"] + 3 * victim
    return {"preset": f"swinunetr at {row['preset']}", "ratio": ratio, "victim_s": victim,
            "paired_sd": quick_swin["paired_sd"], "paired_df": quick_swin["paired_df"],
            "seeds_run": run, "cell_h_run": run * per_seed / 3600}


def board_measured(table: pd.DataFrame, board: pd.Series,
                   n_text: Callable[[pd.Series], str]) -> str:
    """What the board, run at the picked preset under another protocol, measured of its own
    null cells: their paired SD against the one the pick was made with."""
    rows = table[(table["preset"] == board["preset"]) & (table["victim"] == "unet")
                 & (table["protocol"] != board["protocol"]) & table["paired_sd"].notna()]
    return "".join(
        f"The board itself (`{r['folder']}`, protocol {r['protocol']}, {r['clean_seeds']} "
        f"seeds) measured its null cells' paired SD at {r['paired_sd']:.3f} (95 % range "
        f"{r['paired_sd_lo']:.3f}-{r['paired_sd_hi']:.3f}, {r['paired_df']} df), "
        + ("above" if r["paired_sd"] > board["paired_sd_hi"] else "within")
        + f" the pick's range: {n_text(r)} for a difference of {DELTA}. "
        for _, r in rows.iterrows())


def swinunetr_measured(table: pd.DataFrame, row: pd.Series) -> str:
    """Whether SwinUNETR passes the reference bar at ``row``'s preset: the clean-trained
    SwinUNETRs the records hold there (the transfer board's), or that none is measured yet."""
    measured = table[(table["preset"] == row["preset"]) & (table["victim"] == "swinunetr")]
    if measured.empty:
        return (f"Whether SwinUNETR passes the reference bar at {row['preset']} is not "
                "measured: one clean-trained SwinUNETR seed there is the first check.")
    found = "; ".join(
        f"{r['clean_per_seed']} in `{r['folder']}`, "
        + ("passing the reference bar on every seed" if r["weak_clean_seeds"] == 0
           else f"below the reference bar on {r['weak_clean_seeds']} seed(s)")
        for _, r in measured.iterrows())
    return f"Measured since: its clean-trained SwinUNETR at {row['preset']} is {found}."


TEST_NAMES = {stats.BOOTSTRAP: "bootstrap (protocol 3)", stats.T_TEST: "t-test (protocol 4)"}
"""Each board test's column prefix in the simulation's table."""


def board_test_rates(pairs: pd.DataFrame, rows: list[pd.Series], reps: int = 300) -> pd.DataFrame:
    """For each of the table's ``rows``, at 3 seeds and at its seeds run: each board test's
    simulated false-positive rate and power (``test_rates``, the mean variance components of
    its null cells, its test cases; protocol 3's bootstrap, protocol 4's t-test) beside the
    t-test's power by formula at the paired SD."""
    out = []
    for row in rows:
        null = null_of(pairs, row)
        components = tuple(float(null[c].mean()) for c in ("seed_var", "case_var",
                                                            "residual_var"))
        for seeds in sorted({stats.MIN_SEEDS, int(row["seeds_run"])}):
            simulated = {}
            for test, name in TEST_NAMES.items():
                false_positive, power = test_rates(components, seeds, int(row["test_cases"]),
                                                   test, reps=reps)
                simulated |= {f"{name}: false positives": false_positive,
                              f"{name}: power": power}
            out.append({"preset": row["preset"], "seeds": seeds,
                        "cases": int(row["test_cases"]), **simulated,
                        "t-test: power (formula)": power_t(seeds, row["paired_sd"])})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------- output

RESOLUTION = {
    "preset": "preset", "victim": "victim", "axis": "scale axis", "protocol": "protocol",
    "clean_per_seed": "clean-trained DSC per seed", "clean_sd": "clean SD",
    "null_count": "null cells", "paired_sd": "paired SD", "paired_range": "its 95 % range",
    "half_width_3": "half-width, 3 seeds", "power_3": "power, 3 seeds",
    "seeds_normal": "seeds (normal)", "seeds_t": "seeds (t)", "seeds_range": "seeds, SD range",
}
COST = {
    "preset": "preset", "victim": "victim", "protect_voxshield": "protect voxshield",
    "protect_em": "protect em", f"protect_{CONTROL}": "protect random-roi",
    "clean_train": "clean victim", "protected_train": "protected victim",
    "evaluation": "evaluation + logging", "run_voxshield": "voxshield run",
    "seeds_run": "seeds run", "cell_h_run": "cell CPU-h", "board_h_3": "board CPU-h, 3 seeds",
    "board_h_run": "board CPU-h, seeds run", "board_h_hi": "board CPU-h, SD upper end",
    "swinunetr_fits": "SwinUNETR fits",
}


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["paired_range"] = [f"{lo:.3f}-{hi:.3f}" for lo, hi in
                           zip(out["paired_sd_lo"], out["paired_sd_hi"])]
    out["seeds_range"] = [f"{lo}-{hi}" for lo, hi in zip(out["seeds_lo"], out["seeds_hi"])]
    out["null_count"] = [f"{len(c.split(', '))} ({d} df)" for c, d in
                         zip(out["null_cells"], out["paired_df"])]
    out["swinunetr_fits"] = out["swinunetr_fits"].map({True: "yes", False: "no"})
    return out


def render(table: pd.DataFrame, columns: dict[str, str], digits: int = 3) -> str:
    """A GitHub Markdown table of ``columns`` (renamed) of ``table``."""
    shown = _formatted(table)
    shown = shown[[c for c in columns if c in shown]].rename(columns=columns)
    shown = shown.astype(object).where(shown.notna(), None)  # NaN as the missing mark
    return tabulate(shown, headers="keys", tablefmt="github", showindex=False,
                    floatfmt=f".{digits}f", missingval="—")


def _frame(frame: pd.DataFrame, digits: int = 3) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False,
                    floatfmt=f".{digits}f", missingval="—")


def host_text(hosts: pd.DataFrame) -> str:
    """Per preset and seed that differs between folders, its values and where; the presets
    whose seeds agree everywhere."""
    differing, agreeing = [], []
    for preset, rows in hosts.groupby("preset"):
        split = [(seed, seed_rows) for seed, seed_rows in rows.groupby("seed")
                 if seed_rows["clean_dsc"].nunique() > 1]
        if not split:
            agreeing.append(preset)
        for seed, seed_rows in split:
            differing.append(f"{preset} seed {seed}: " + ", ".join(
                f"{value:.3f} in {', '.join(f'`{f}`' for f in group['folder'])} "
                f"({' / '.join(sorted(set(group['host'])))}; kernel "
                f"{', '.join(sorted(set(group['platform'])))}; code "
                f"{', '.join(sorted(set(group['commits'])))})"
                for value, group in seed_rows.groupby("clean_dsc")))
    text = ("The same preset and seed gives another clean-trained DSC in another folder: "
            + "; ".join(differing) + ". One seed's figure does not travel between machines "
            "(or code) there. " if differing else "")
    return text + (f"{', '.join(agreeing)}: every seed agrees to four digits in every folder."
                   if agreeing else "")


def _span(values: pd.Series, digits: int = 2, unit: str = "") -> str:
    """``0.99`` or ``0.09-0.18`` (with ``unit``) for the values' range."""
    low, high = f"{values.min():.{digits}f}{unit}", f"{values.max():.{digits}f}{unit}"
    return low if low == high else f"{low}-{high}"


def rates_text(rates: pd.DataFrame) -> str:
    """What the simulation says of the boards' tests at 3 seeds."""
    three = rates[rates["seeds"] == stats.MIN_SEEDS]
    bootstrap = three[f"{TEST_NAMES[stats.BOOTSTRAP]}: false positives"]
    t_test = rates[f"{TEST_NAMES[stats.T_TEST]}: false positives"]
    return (f"At {stats.MIN_SEEDS} seeds the bootstrap flags {_span(bootstrap * 100, 0, ' %')} "
            f"of null cells (nominal {ALPHA:.0%}): it resamples the seeds it has (its spread is "
            "(n-1)/n of theirs, and their SD comes from 2 df), so it reaches more power than "
            "the t-test by flagging more null cells. The t-test flags "
            f"{_span(t_test * 100, 0, ' %')} at every row, its nominal rate within the "
            "simulation's error: protocol 4's boards test with it (`stats.paired_test_of`). "
            "The seeds run above are the t-test's.")


def proxy_text(check: pd.DataFrame) -> str:
    """What the sweep log says of wall x threads as CPU time."""
    if check.empty:
        return "No timed sweep log to check the proxy against."
    one = check[check["recorded threads"] == "1"]["proxy / CPU"]
    more = check[check["recorded threads"] != "1"]["proxy / CPU"]
    text = ""
    if len(one):
        text += (f"At one thread a worker (two workers on the two cores) the records' wall x "
                 f"threads is {_span(one)}x the process CPU time. ")
    if len(more):
        text += (f"At more threads on a loaded machine it is {_span(more)}x"
                 " over (threads that wait for a core count their wall time): the medians "
                 "above keep such a run out (the candidates' other runs are one thread a "
                 "worker). ")
    return text


def readme(table: pd.DataFrame, pairs: pd.DataFrame, hosts: pd.DataFrame,
           check: pd.DataFrame, ratios: dict[str, float], rates: pd.DataFrame) -> str:
    """The study's README: question, answer in numbers, tables, projections, caveats, rerun."""
    board, transfer = pick(table), pick(table, transfer=True)
    quick, canary = row_of(table, "quick"), row_of(table, scaling.BASE)
    ranked = (table[(table["victim"] == "unet") & table["board_h_run"].notna()]
              .sort_values("board_h_run"))
    usable_rows = ranked[(ranked["preset"] != board["preset"]) & (ranked["recipe"] == "uebench")
                         & (ranked["weak_clean_seeds"] == 0) & ranked["paired_sd"].notna()]
    runners = usable_rows[usable_rows["protocol"] == board["protocol"]].head(3)
    other_protocol = usable_rows[usable_rows["protocol"] != board["protocol"]]
    own = more_test_cases(table, pairs, board, 2 * int(board["test_cases"]))
    swin = swinunetr_at(table, transfer)
    weak = table[(table["victim"] == "unet") & (table["weak_clean_seeds"] > 0)]
    same_victim = table[table["axis"].str.startswith("surrogate-updates")
                        & (table["preset"] != scaling.BASE)]
    unet = table[table["victim"] == "unet"]
    estimated = ", ".join(f"{m} {ratios[m]:.2f}" for m in BOARD_METHODS
                          if m in ratios and m not in ("clean", "random", *MEASURED_PROTECTIONS))

    def n_text(r: pd.Series) -> str:
        return (f"{r['seeds_t']} seeds by the t-test ({r['seeds_normal']} by the normal "
                f"approximation; {r['seeds_lo']}-{r['seeds_hi']} over the SD's 95 % range)")

    def cost_text(rows: pd.DataFrame) -> str:
        return "; ".join(
            f"{r['preset']} {r['board_h_run']:.1f} CPU-h at {r['seeds_run']} seeds "
            f"(paired SD {r['paired_sd']:.3f}, upper end {r['board_h_hi']:.1f})"
            for _, r in rows.iterrows())

    runner_text = cost_text(runners)
    other_text = "".join(
        f"Measured under protocol {protocol} (its runs with the allocator, so its cost does not "
        f"compare with protocol {board['protocol']}'s, `pick`): {cost_text(rows)}. "
        for protocol, rows in other_protocol.groupby("protocol"))
    lines = [
        "# Which preset for the boards: resolution per CPU-hour (issue 32, section 2)",
        "",
        "**Question.** quick's clean-trained unet moves by seed (0.679 / 0.890 / 0.880) and "
        "its intervals are wide. For each preset with committed clean, random-roi and "
        "protected unet records at 3 seeds: how large is the seed-to-seed SD of the clean-"
        "trained DSC and of the paired difference to random-roi, how wide is a cell's "
        "interval, how many seeds does a cell need to detect a 0.05 paired difference to "
        "random-roi (one-sided alpha 0.05, power 0.8), and what does a board cost at those "
        "seeds in CPU-hours? Which preset should the methods board (13 methods x 4 budgets "
        "on unet) and the transfer board (SwinUNETR needs 64^3) run at?",
        "",
        f"**Answer.** The methods board: **{board['preset']}** "
        f"({board['volume']}^3, {board['train_cases']} training / {board['test_cases']} test "
        f"cases, {board['epochs']} epochs). Its null cells' paired SD is "
        f"{board['paired_sd']:.3f} (95 % range {board['paired_sd_lo']:.3f}-"
        f"{board['paired_sd_hi']:.3f}, {board['paired_df']} df), so a cell needs "
        f"{n_text(board)}; the board costs {board['board_h_run']:.1f} CPU-h at "
        f"{board['seeds_run']} seeds ({board['board_h_hi']:.1f} at the SD's upper end), its "
        f"clean-trained unet is {board['clean_per_seed']} (SD {board['clean_sd']:.3f}). "
        f"quick needs {n_text(quick)} at paired SD {quick['paired_sd']:.3f}: "
        f"{quick['board_h_run']:.1f} CPU-h at {quick['seeds_run']} seeds, "
        f"{quick['board_h_run'] / board['board_h_run']:.1f}x the pick, and its seed 0 fails "
        f"the reference bar; canary needs {canary['seeds_t']} seeds (paired SD "
        f"{canary['paired_sd']:.3f}, {canary['board_h_run']:.1f} CPU-h). The next cheapest: "
        f"{runner_text}. They differ from the pick by less than their SDs' uncertainty "
        f"({board['paired_df']} df each)"
        + (f"; the pick also has the highest clean-trained DSC of them ({board['clean_mean']:.3f} "
           f"against {', '.join(f'{v:.3f}' for v in runners['clean_mean'])}), so the most room "
           "above the 0.7 reference bar for a protection to show. "
           if board["clean_mean"] > runners["clean_mean"].max() else ". ")
        + other_text + board_measured(table, board, n_text)
        + f"The transfer board: **{transfer['preset']}**, the cheapest preset SwinUNETR takes "
        f"({transfer['volume']}^3; unet there: paired SD {transfer['paired_sd']:.3f}, "
        f"{transfer['seeds_t']} seeds, {transfer['board_h_run']:.1f} CPU-h for the unet board "
        f"against quick's {quick['board_h_run']:.1f}); SwinUNETR itself was measured only at "
        f"quick (paired SD {swin['paired_sd']:.3f}, {swin['paired_df']} df), so its cost "
        f"there is a projection: ~{swin['victim_s']:.0f} CPU-s a victim, "
        f"~{swin['cell_h_run']:.1f} CPU-h a transfer cell at {swin['seeds_run']} seeds.",
        "",
        "## Resolution",
        "",
        "Per preset and victim, from the folder that ran it ("
        + "; ".join(f"`{folder}`: {', '.join(group['preset'].unique())}"
                    for folder, group in table.groupby("folder"))
        + "); "
        "clean SD = SD over seeds of the clean-trained mean test DSC (one victim per seed); "
        "paired SD = SD over seeds of (protected-trained minus random-roi-trained mean test "
        f"DSC), pooled over the null cells ({NULL_RULE}); its 95 % range = the chi-square "
        "interval at those df; half-width = the median over the null cells of the half-width "
        "of the 95 % interval of the paired difference as the boards compute it "
        "(`stats.paired_comparison`: protocol 4's t interval; a cell of more seeds scaled to 3 "
        "by the t quantile and sqrt(n), its SD the same); power, 3 seeds = the "
        "one-sided t-test's power for 0.05 at that SD; seeds (normal) = "
        "((z_0.95 + z_0.8) SD / 0.05)^2 rounded up; seeds (t) = the smallest n at which the "
        "one-sided one-sample t-test reaches power 0.8 (scipy's noncentral t; statsmodels' "
        "`TTestPower` gives the same n, `tests/test_preset_choice.py`); seeds, SD range = "
        "the normal n at the ends of the SD's range.",
        "",
        render(table, RESOLUTION),
        "",
        "## Cost",
        "",
        "CPU seconds per run as **wall seconds x the record's torch threads** (the records keep "
        "no process CPU time), the median over the preset's runs (a loaded host makes single "
        "runs slow); protection = the mean over the budgets measured (`protect_budgets` in "
        "the CSV) of each budget's median; clean / protected victim = training epochs; "
        "evaluation + logging = the rest "
        "of a victim stage (evaluation on the clean test split, the logged test DSC curve, "
        "the val-loss selection under the authors' recipe). Each victim training counted "
        "once: a clean-trained victim is shared by every record of its preset and seed. "
        "voxshield run = its protection + a protected victim + evaluation. cell CPU-h = one "
        "voxshield cell with its random-roi cell and the clean reference at the seeds run "
        "(the t-test's seeds, at least 3). board = the 13 L-inf methods "
        f"({', '.join(BOARD_METHODS)}) x {BOARD_BUDGETS} budgets on unet: per seed one clean "
        "victim and, per other method and budget, its protection and one victim; voxshield, "
        "em and random-roi (random as random-roi) protections measured at the preset, the "
        "others em's times their ratio to em in the archived protocol-1 quick records "
        f"({estimated}), "
        "an estimate. SD upper end = at the t-test's seeds for the upper end of the SD's range.",
        "",
        render(table.round(1), COST, digits=1),
        "",
        "## The boards' own test, simulated",
        "",
        "Protocol 3's boards mark a cell with the hierarchical bootstrap, protocol 4's with "
        "the paired t-test over the seeds. Simulated (300 draws a row by default, `--reps`, "
        "the same draws for both tests; per-case differences normal with the mean variance "
        "components of the preset's null cells; Monte Carlo SE about 0.02): each test's "
        f"false-positive rate at a true difference of 0 (nominal {ALPHA}) and its power at "
        f"{DELTA}, beside the t-test's power by formula at the paired SD:",
        "",
        _frame(rates),
        "",
        rates_text(rates),
        "",
        "## Projections (computed from these records, not measured)",
        "",
        f"- **One of our own: {own['preset']}** (the test split doubled; synthesis and "
        "evaluation are cheap). The null cells' per-case differences split into a seed "
        "component (a whole victim better or worse) and a residual (seed x case); a seed's "
        "mean difference has variance seed + residual / cases. At "
        f"{board['preset']} the seed component is {own['seed_share']:.0%} of it, so twice the "
        f"test cases gives a paired SD of {own['paired_sd']:.3f} (measured "
        f"{board['paired_sd']:.3f}), {own['seeds_t']} seeds by the t-test, "
        f"{own['board_h_run']:.1f} CPU-h: no better. What moves the paired SD is the victim's "
        "training (more epochs, cases or voxels: every scale point's SD is below canary's), "
        "not the test split, so a board buys resolution with seeds of a preset whose victim "
        "converges, not with test cases.",
        f"- **SwinUNETR at {transfer['preset']}**: a SwinUNETR victim stage costs "
        f"{swin['ratio']:.2f}x a unet one at quick (both measured there), so ~"
        f"{swin['victim_s']:.0f} CPU-s at {transfer['preset']}; with quick's SwinUNETR paired "
        f"SD ({swin['paired_sd']:.3f}, {swin['paired_df']} df) a transfer cell needs "
        f"{swin['seeds_run']} seeds, ~{swin['cell_h_run']:.1f} CPU-h (voxshield and "
        "random-roi protections, a clean, a protected and a random-roi SwinUNETR per seed). "
        + swinunetr_measured(table, transfer),
        "",
        "## The SwinUNETR floor",
        "",
        f"`victims/monai_nets.py`: SwinUNETR has `min_size = {SWINUNETR_MIN_SIZE}` and "
        f"`size_multiple = {SWINUNETR_SIZE_MULTIPLE}` (design.md: feature size 12 fails at "
        "32^3); the cube's edge must be 64, 96, ... Of the candidates: "
        + ", ".join(dict.fromkeys(f"{r['preset']} ({r['volume']}^3)" for _, r in
                                  unet[unet["swinunetr_fits"]].iterrows()))
        + " take it; "
        + ", ".join(dict.fromkeys(r["preset"] for _, r in
                                  unet[~unet["swinunetr_fits"]].iterrows()))
        + " do not.",
        "",
        "## Hosts",
        "",
        "The same preset and seed in every folder that ran it (the clean-trained unet's mean "
        "test DSC; platform = the kernel build the record names):",
        "",
        _frame(hosts, 4),
        "",
        host_text(hosts) + " (Not in these records: design.md's canary runs on an Intel "
        "Xeon host, the 32/255 energy study, gave clean-trained 0.753 / 0.733 / 0.638 against "
        "0.754 / 0.708 / 0.636 here.)",
        "",
        "## The records' time unit against process CPU time",
        "",
        "The recipe sweep ran under `/usr/bin/time` (`leaderboards/recipe/sweep-log.txt`); "
        "its user + system seconds against the same runs' wall x threads from their records "
        "(each stage once):",
        "",
        _frame(check, 2),
        "",
        proxy_text(check),
        "",
        "## Caveats",
        "",
        "- Every SD rests on 3 seeds. Pooling gives the paired SD 4 df at the canary points "
        "(em and voxshield at 4/255) and 12 at quick (with random at 4 budgets), but the "
        "cells of one budget share their random-roi seeds, so the df overstate the "
        "independent information; with 2 df the 95 % range of an SD is 0.52x-6.3x the "
        "estimate. The seeds needed are ranges, not numbers: the upper-end board column is "
        "the cost if the SD is at the top of its range.",
        "- The SD is taken about each cell's own mean, so a cell with a steady effect still "
        "measures noise; cells that protocol 4's t-test puts below random-roi are pooled too: "
        + ("; ".join(f"{r['preset']}: {r['null_cells_below']}" for _, r in
                     unet[unet["null_cells_below"] != ""].iterrows()) or "none")
        + ". A large effect adds seed variance (voxshield 32/255 at quick: -0.84 / -0.19 / "
        "-0.51), so cells with effects need more seeds than the null cells say.",
        "- The normal n ignores that the SD is estimated; the t-test's n is the honest one "
        "for 3-10 seeds (protocol 3's bootstrap, simulated above, trades false positives for "
        "power at few seeds). The half-widths are the t interval's at 3 seeds (2 df); at "
        "n seeds they shrink by t_0.975(n - 1) sqrt(3) / (t_0.975(2) sqrt(n)).",
        "- Presets differ in protocol (quick and the scale points: 3; walk-authors: 4, the "
        "authors' victim recipe, not the boards' own, so not a candidate for the pick) and in "
        "code. "
        + (", ".join(same_victim["preset"]) + " move only the surrogate's update cap: their "
           "victims and random-roi cells are canary's, so they are not separate candidates "
           "for the victim's resolution (their rows show the protections' own seed noise). "
           if not same_victim.empty else "")
        + "Presets whose clean-trained victim misses the reference bar on a seed ("
        + ", ".join(f"{r['preset']} {r['weak_clean_seeds']}" for _, r in weak.iterrows())
        + ") are not picked.",
        "- Costs: wall x threads, not CPU time (the cost study profiled quick's em 4/255 "
        "seed 0 at 502 process CPU-s with the default allocator, `leaderboards/cost`; its "
        "board record's stages sum to 406 wall-s: the proxy can be 20 % low there). Every "
        "record here ran before the allocator change (a366f3d, 0.72x the CPU of a quick em "
        "run): future runs of every preset cost less, by about the same factor. Protections "
        "at the budgets measured (the "
        "scale points have 4/255 and 8/255, some 32/255; quick all four, where 16/255 costs "
        "the most); the protections of the 8 unmeasured methods are an estimate from "
        "protocol-1 ratios. Cost is CPU-h, not wall: two workers on the two cores halve the "
        "wall time.",
        "",
        "## Rerun",
        "",
        "```",
        "python -m benchmarks.preset_choice --out leaderboards/preset-choice",
        "```",
        "",
        "(under a minute, most of it the simulation; reads `leaderboards/**/*.json`, protocol "
        "3 and later, and writes this README, "
        "`preset-choice.csv`, one row per preset and victim with every column above and more, "
        "`test-rates.csv`, the simulation, and `cells.csv`, every paired cell with its "
        "per-seed differences, SD, half-width, p and variance components). The per-cell "
        "table:",
        "",
        _frame(pairs[["preset", "victim", "method", "epsilon", "per_seed", "sd", "half_width",
                      "p_below", "null"]]),
        "",
        "## Host and code",
        "",
        "The records' times: "
        + "; ".join(f"{h}: {', '.join(sorted(set(table[table['host'] == h]['preset'])))}"
                    for h in sorted(set(table["host"])))
        + ". 2 shared cores, one torch thread a worker (the recipe sweep's seed 0: 2 threads). "
        "Records at the commits they name (`environment.git_commit`); the analysis needs no "
        "training.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.preset_choice",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=LEADERBOARDS,
                        help="folder whose **/*.json records are read (default: leaderboards)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write README.md, preset-choice.csv and cells.csv here")
    parser.add_argument("--reps", type=int, default=300,
                        help="simulated draws per row of the boards' tests (default 300)")
    args = parser.parse_args(argv)
    table, pairs, hosts = analyse(args.root)
    ratios = protocol_1_ratios()
    check = sweep_log_check([r for rs in load(args.root).values() for r in rs])
    board, transfer = pick(table), pick(table, transfer=True)
    shown = [board, transfer, row_of(table, "quick"), row_of(table, scaling.BASE)]
    rates = board_test_rates(pairs, [r for i, r in enumerate(shown)
                               if all(r["preset"] != o["preset"] for o in shown[:i])],
                       reps=args.reps)
    text = readme(table, pairs, hosts, check, ratios, rates)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "README.md").write_text(text)
        table.round(5).to_csv(args.out / "preset-choice.csv", index=False)
        pairs.round(5).to_csv(args.out / "cells.csv", index=False)
        rates.to_csv(args.out / "test-rates.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
