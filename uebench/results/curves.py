"""Budget-efficacy curves: protected-trained DSC per budget with intervals, the matched-control
test, relative DSC and eps@50 (../shared/spec/evaluation.md, protocol 2).

``curve_table`` has one row per (dataset, preset, victim, defense, method, budget) cell;
``eps50_table`` one row per curve (dataset, preset, victim, defense, method), ranked by eps@50.
Per-case scores are the foreground-mean DSC of each test case (``stats.case_scores``); a cell's
mean is the mean over seeds of the mean over test cases. The cells carry the raw p of each
paired test; a board flags them (↓) with ``flag_below`` over the tests it shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from uebench.results import records as rec
from uebench.results import stats
from uebench.results.records import CELL, MATCHED_CONTROL, REFERENCE, Record, epsilon_label

CURVE_KEYS = CELL[:5]
CELL_ID = [*CURVE_KEYS, "budget_label"]
"""The columns that name a cell of ``curve_table`` (a board may repeat a row, never a cell)."""
TESTS = {"control": ("p_below_control", "q_below_control", "below_control"),
         "clean": ("p_below_clean", "q_below_clean", "below_clean")}
"""Each paired comparison of ``curve_table``: the column of its raw one-sided p, and the
columns ``flag_below`` adds: its q over a board's tests and the board's flag (↓)."""


@dataclass
class _Cells:
    """Per-seed per-case protected scores for each cell (keyed by the cell's fields with
    the L-inf budget, NaN for other norms, before the budget label), clean-trained scores
    for each (dataset, preset, victim), ROI PSNR per cell, each method label's role, the
    cells of the matched control (its method without overrides), per cell the seeds whose
    surrogate stopped below fit_dsc and the paired test of its records' protocol
    (``stats.paired_test_of``)."""

    scores: dict[tuple, dict[int, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(dict))
    clean: dict[tuple, dict[int, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(dict))
    psnr: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))
    roles: dict[str, str] = field(default_factory=dict)
    controls: set[tuple] = field(default_factory=set)
    short: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))
    tests: dict[tuple, str] = field(default_factory=dict)


def _cells(records: list[Record]) -> _Cells:
    out = _Cells()
    cells, clean, psnr = out.scores, out.clean, out.psnr
    for record in records:
        spec, names = record["spec"], rec.class_names(record)
        cell = rec.cell(record)
        key = (*cell[:5], rec.linf_epsilon(record), cell.budget)
        out.roles[cell.method] = rec.role(record)
        if out.roles[cell.method] == MATCHED_CONTROL and not spec.get("method_params"):
            out.controls.add(key)
        efficacy = record["efficacy"]
        cells[key][spec["seed"]] = stats.case_scores(efficacy["protected_trained"]["per_case"],
                                                     names)
        clean[key[:3]].setdefault(
            spec["seed"], stats.case_scores(efficacy["clean_trained"]["per_case"], names))
        value = record["fidelity"].get("psnr_roi")
        psnr[key].append(math.nan if value is None else value)
        out.short[key] += rec.surrogate_short(record)
        out.tests[key] = stats.paired_test_of(rec.protocol_of(record))
    return out


def _control_of(found: _Cells, key: tuple) -> tuple | None:
    """The matched control's cell for ``key``: same dataset, preset, victim, defense and
    budget; None when it was not run (or ``key`` is that cell)."""
    matches = [other for other in found.controls
               if other[:4] == key[:4] and other[5:] == key[5:] and other != key]
    return matches[0] if matches else None


def curve_table(records: list[Record]) -> pd.DataFrame:
    """One row per cell: protected DSC (mean, 95 % interval), the clean-trained reference of
    the same victim, relative DSC, the one-sided paired test against the matched control (the
    method whose role is ``matched-control``: random-roi; same dataset, preset, victim,
    defense and budget) and the paired difference to it with its interval (``diff_*``:
    protected minus control; test and interval by ``paired_test``, the test of the records'
    protocol, ``stats.paired_comparison``), the same comparison against the clean-trained
    victim of the same seeds (``clean_diff_*``, ``p_below_clean``: did training on the
    protected data lower the DSC at all, whatever the control did), the mean ROI PSNR and the
    seeds whose surrogate stopped below fit_dsc (``records.surrogate_short``). The p are raw;
    whether a cell is below is a board's call (``flag_below``)."""
    found = _cells(records)
    cells, psnr = found.scores, found.psnr
    references = {key: stats.interval(list(seeds.values()))
                  for key, seeds in found.clean.items()}
    rows = []
    for key, seeds in sorted(cells.items(), key=lambda item: _order(item[0])):
        dataset, preset, victim, defense, method, budget, label = key
        mean, low, high = stats.interval(list(seeds.values()))
        clean_mean, clean_low, clean_high = references[key[:3]]
        control = _control_of(found, key)
        compared = control is not None and key not in found.controls
        test = found.tests[key]
        p_value, diff_mean, diff_low, diff_high = (
            stats.paired_comparison(seeds, cells[control], test) if compared
            else (math.nan,) * 4)
        clean_p, clean_diff, clean_diff_low, clean_diff_high = (
            stats.paired_comparison(seeds, found.clean[key[:3]], test)
            if found.roles[method] != REFERENCE else (math.nan,) * 4)
        rows.append({
            "dataset": dataset, "preset": preset, "victim": victim, "defense": defense,
            "method": method, "role": found.roles[method], "budget": budget,
            "budget_label": label, "seeds": len(seeds),
            "dsc_mean": mean, "dsc_lo": low, "dsc_hi": high,
            "clean_mean": clean_mean, "clean_lo": clean_low, "clean_hi": clean_high,
            "relative": mean / clean_mean if clean_mean else math.nan,
            "p_below_control": p_value,
            "diff_mean": diff_mean, "diff_lo": diff_low, "diff_hi": diff_high,
            "p_below_clean": clean_p, "clean_diff_mean": clean_diff,
            "clean_diff_lo": clean_diff_low, "clean_diff_hi": clean_diff_high,
            "psnr_roi": _finite_mean(psnr[key]),
            "surrogate_short_seeds": found.short[key], "paired_test": test,
        })
    return pd.DataFrame(rows)


def _family(cells: pd.DataFrame, comparisons: tuple[str, ...]) -> pd.DataFrame:
    """The distinct tests of ``cells`` (cell and comparison) that have a p."""
    tests = pd.concat([cells[CELL_ID].assign(test=name, p=cells[TESTS[name][0]])
                       for name in comparisons], ignore_index=True)
    return tests.drop_duplicates([*CELL_ID, "test"]).dropna(subset="p")


def difference_text(row: pd.Series, prefix: str, below: str) -> str:
    """``-0.312 [-0.451, -0.170] ↓`` from the row's ``{prefix}_mean/_lo/_hi`` (↓ when its
    ``below`` flag is set); the point alone below ``stats.MIN_SEEDS`` shared seeds; blank
    where there is no comparison (the control against itself)."""
    mean, low, high = (row[f"{prefix}_{part}"] for part in ("mean", "lo", "hi"))
    if pd.isna(mean):
        return ""
    if pd.isna(low):
        return f"{mean:+.3f}"
    mark = " ↓" if row[below] else ""
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"


def paired_test(cells: pd.DataFrame | None) -> str:
    """The paired test (``stats.PAIRED_TESTS``) of a board's ``cells``: one, as a board holds
    one protocol (the bootstrap when the board shows no cell); ``ValueError`` when they mix."""
    if cells is None or cells.empty:
        return stats.BOOTSTRAP
    tests = set(cells["paired_test"])
    if len(tests) > 1:
        raise ValueError(f"a board mixes paired tests {sorted(tests)}: records of two protocols")
    return tests.pop()


def family_size(cells: pd.DataFrame, comparisons: tuple[str, ...] = ("control",)) -> int:
    """How many tests ``flag_below`` adjusts over for a board that shows ``cells``."""
    return 0 if cells.empty else len(_family(cells, comparisons))


def flag_below(cells: pd.DataFrame, comparisons: tuple[str, ...] = ("control",)
               ) -> pd.DataFrame:
    """``cells`` (the rows of ``curve_table`` that one board shows) with, for each comparison
    of ``comparisons`` (``TESTS``), its q and the board's flag (↓). The board is one family:
    its distinct tests (a row the board repeats, as the scale study's base on every axis, is
    one test) that have a p (fewer than ``stats.MIN_SEEDS`` shared seeds: no test, NaN q, no
    flag); q = the Benjamini-Hochberg adjusted p over that family (``stats.fdr_adjust``) and a
    cell is flagged where q < ``stats.ALPHA``."""
    out = cells.copy()
    if out.empty:  # no cell, no test
        for name in comparisons:
            out[TESTS[name][1]] = pd.Series(dtype=float)
            out[TESTS[name][2]] = pd.Series(dtype=bool)
        return out
    tests = _family(out, comparisons)
    adjusted = dict(zip(zip(*(tests[c] for c in [*CELL_ID, "test"])),
                        stats.fdr_adjust(tests["p"].to_numpy())))
    for name in comparisons:
        _, q, flag = TESTS[name]
        out[q] = [adjusted.get((*key, name), math.nan)
                  for key in zip(*(out[c] for c in CELL_ID))]
        out[flag] = out[q] < stats.ALPHA
    return out


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _order(key: tuple) -> tuple:
    budget = key[5]
    return (*key[:5], math.inf if math.isnan(budget) else budget)


def eps_at_half(budgets: np.ndarray, means: np.ndarray, clean_mean: float) -> float:
    """The smallest budget at which ``means`` falls to half ``clean_mean``, linear in
    log2(eps) between the two measured budgets that bracket it; 0 when already at the
    smallest budget ("< smallest"), inf when never ("> largest")."""
    half = clean_mean / 2
    for index, (budget, mean) in enumerate(zip(budgets, means)):
        if mean <= half:
            if index == 0:
                return 0.0
            before, above = budgets[index - 1], means[index - 1]
            share = (above - half) / (above - mean)
            return float(2 ** (np.log2(before) + share * (np.log2(budget) - np.log2(before))))
    return math.inf


def eps50_table(records: list[Record]) -> pd.DataFrame:
    """One row per L-inf curve (the reference, ``clean``, is not a curve): eps@50 with a 95 %
    interval (the rule applied to each joint bootstrap draw of the per-budget and
    clean-trained means), the ROI PSNR interpolated at eps@50, and the rank within (dataset,
    preset, victim, defense) by eps@50 (lower = stronger; ties broken by the DSC at the
    largest budget)."""
    found = _cells(records)
    cells, clean, psnr = found.scores, found.clean, found.psnr
    curves: dict[tuple, list[tuple]] = defaultdict(list)
    for key in cells:
        if not math.isnan(key[5]) and found.roles[key[4]] != REFERENCE:
            curves[key[:5]].append(key)
    rows = []
    for curve, keys in curves.items():
        keys = sorted(keys, key=lambda k: k[5])
        budgets = np.array([k[5] for k in keys])
        means = np.array([stats.interval(list(cells[k].values()))[0] for k in keys])
        clean_seeds = list(clean[curve[:3]].values())
        clean_mean = stats.interval(clean_seeds)[0]
        point = eps_at_half(budgets, means, clean_mean)
        draws = _bootstrap_eps50(budgets, [cells[k] for k in keys], clean_seeds)
        low = float(np.quantile(draws, 0.025, method="lower"))
        high = float(np.quantile(draws, 0.975, method="higher"))
        curve_psnr = np.array([_finite_mean(psnr[k]) for k in keys])
        rows.append({
            **dict(zip(CURVE_KEYS, curve)), "budgets": len(keys),
            "largest": budgets[-1], "smallest": budgets[0],
            "eps50": point, "eps50_lo": low, "eps50_hi": high,
            "eps50_label": eps50_label(point, low, high, budgets[0], budgets[-1]),
            "psnr_roi_at_eps50": _interpolate_log2(point, budgets, curve_psnr),
            "dsc_at_largest": means[-1], "clean_mean": clean_mean,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values([*CURVE_KEYS[:4], "eps50", "dsc_at_largest"], kind="stable")
    table["rank"] = table.groupby(CURVE_KEYS[:4]).cumcount() + 1
    return table.reset_index(drop=True)


def _bootstrap_eps50(budgets: np.ndarray, cells: list[dict], clean_seeds: list[dict]
                     ) -> np.ndarray:
    rng = np.random.default_rng(stats.RESAMPLER_SEED)
    clean_draws = stats.hierarchical_means(stats._matrix(clean_seeds), rng=rng)
    cell_draws = np.stack([stats.hierarchical_means(stats._matrix(list(c.values())), rng=rng)
                           for c in cells], axis=1)
    return np.array([eps_at_half(budgets, row, clean) for row, clean in
                     zip(cell_draws, clean_draws)])


def _interpolate_log2(point: float, budgets: np.ndarray, values: np.ndarray) -> float:
    if not (0 < point < math.inf) or not np.isfinite(values).all():
        return math.nan
    return float(np.interp(np.log2(point), np.log2(budgets), values))


def eps50_label(point: float, low: float, high: float, smallest: float, largest: float) -> str:
    """``12.3/255 [9.0/255, 16.0/255]`` with ``< 4/255`` / ``> 32/255`` for censored ends."""

    def one(value: float) -> str:
        if value == 0:
            return f"< {epsilon_label(smallest)}"
        if value == math.inf:
            return f"> {epsilon_label(largest)}"
        return f"{value * 255:.1f}/255"

    return f"{one(point)} [{one(low)}, {one(high)}]"
