"""Intervals and tests over seeds and test cases (../shared/spec/evaluation.md, protocol 2).

The unit of evidence is the per-case foreground-mean DSC that every record keeps, for each
seed. Intervals are hierarchical percentile bootstraps (resample seeds with replacement, then
test cases within each drawn seed). A comparison with a control (its one-sided p,
``paired_below``, and the difference with its interval, ``paired_difference``) is, up to
protocol 3, a paired hierarchical bootstrap of the per-case difference over the seeds and test
cases both share; from protocol 4 (``paired_test_of``) a one-sided paired t-test over the
seeds' mean differences, with its t interval: at 3-4 seeds the bootstrap flags 9-18 % of null
cells at a nominal 5 % (simulated, ``leaderboards/preset-choice``), because it resamples the
few seeds it has as if they were the population. A board holds many such tests, so it flags a
cell by the Benjamini-Hochberg adjusted p (q, ``fdr_adjust``) over the board's tests, not by
the raw p.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

RESAMPLES = 4000
RESAMPLER_SEED = 20261127
LEVEL = 0.95
ALPHA = 0.05
MIN_SEEDS = 3
BOOTSTRAP, T_TEST = "bootstrap", "t"
"""The paired tests: the hierarchical bootstrap (protocols 1-3) and the t-test (protocol 4 on)."""
T_TEST_PROTOCOL = 4
"""The first protocol whose boards compare cells by the paired t-test."""
PAIRED_TESTS = {
    BOOTSTRAP: ("one-sided paired hierarchical bootstrap of the per-case DSC difference "
                f"(seeds, then test cases; {RESAMPLES} resamples) over the seeds both share "
                f"(at least {MIN_SEEDS}; fewer: no test, no flag)"),
    T_TEST: ("one-sided paired t-test of the seeds' mean per-case DSC differences over the "
             f"seeds both share (at least {MIN_SEEDS}; fewer: no test, no flag), the "
             "difference's interval its 95 % t interval"),
}
"""What a board's header says of each test."""


def paired_test_of(protocol: int) -> str:
    """The paired test of a board of ``protocol``: the bootstrap up to protocol 3 (the boards
    as they were published), the t-test from ``T_TEST_PROTOCOL`` on."""
    return T_TEST if protocol >= T_TEST_PROTOCOL else BOOTSTRAP


def fdr_adjust(p_values) -> np.ndarray:
    """The Benjamini-Hochberg adjusted p-values (q) of ``p_values``, one family (statsmodels'
    ``multipletests(method="fdr_bh")``); a NaN p (no test: too few seeds) is left out of the
    family and its q is NaN. A cell is flagged where q < ``ALPHA``: the false discovery rate
    over the family is then at most ``ALPHA``."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        q[tested] = multipletests(p[tested], alpha=ALPHA, method="fdr_bh")[1]
    return q


def fdr_sentence(below: str, tests: int, shows_p: bool = False, test: str = BOOTSTRAP) -> str:
    """The sentence a board's header says its ↓ with: below what, by which ``test``
    (``PAIRED_TESTS``), and the family of ``tests`` its q are adjusted over; ``shows_p``: the
    board shows p and q."""
    return (f"↓ = below {below} at a Benjamini-Hochberg false discovery rate of "
            f"{ALPHA * 100:g} % over this board's {tests} test{'' if tests == 1 else 's'} "
            f"(q < {ALPHA}), each a {PAIRED_TESTS[test]}"
            + ("; p raw, q adjusted" if shows_p else "") + ".")


def case_scores(per_case: list[dict], class_names: list[str]) -> dict[str, float]:
    """Foreground-mean DSC per test case id, from a record's ``per_case`` rows (NaN classes,
    both masks empty, are left out as in the nnU-Net rule)."""
    scores = {}
    for row in per_case:
        values = [row["dsc"][name] for name in class_names]
        finite = [v for v in values if v is not None and np.isfinite(v)]
        scores[row["id"]] = float(np.mean(finite)) if finite else np.nan
    return scores


def _matrix(seeds: list[dict[str, float]]) -> np.ndarray:
    """``[seeds, cases]`` over the case ids every seed has (same test split)."""
    shared = sorted(set.intersection(*(set(s) for s in seeds)))
    return np.array([[s[c] for c in shared] for s in seeds], dtype=np.float64)


def hierarchical_means(values: np.ndarray, resamples: int = RESAMPLES,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Bootstrap means of ``values [seeds, cases]``: seeds drawn with replacement, then cases
    within each drawn seed."""
    rng = rng or np.random.default_rng(RESAMPLER_SEED)
    n_seeds, n_cases = values.shape
    seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    cases = rng.integers(0, n_cases, size=(resamples, n_seeds, n_cases))
    drawn = values[seeds[..., None], cases]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(drawn.reshape(resamples, -1), axis=1)


def _point(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.nanmean(values, axis=1)))


def interval(seeds: list[dict[str, float]]) -> tuple[float, float, float]:
    """Mean (over seeds of the mean over cases) and its 95 % hierarchical bootstrap interval."""
    values = _matrix(seeds)
    return (_point(values), *_bounds(hierarchical_means(values)))


def _bounds(means: np.ndarray) -> tuple[float, float]:
    """The ``LEVEL`` percentile interval of bootstrap ``means``."""
    low, high = np.nanpercentile(means, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(low), float(high)


def _differences(method: dict[int, dict[str, float]], control: dict[int, dict[str, float]]
                 ) -> np.ndarray:
    """The per-case differences ``[seeds, cases]`` (method - control) over the seeds and test
    cases both have (no rows when they share no seed)."""
    shared = sorted(set(method) & set(control))
    if not shared:
        return np.empty((0, 0))
    cases = sorted(set.intersection(*(set(method[s]) & set(control[s]) for s in shared)))
    return np.array([[method[s][c] - control[s][c] for c in cases] for s in shared])


def paired_comparison(method: dict[int, dict[str, float]],
                      control: dict[int, dict[str, float]], test: str = BOOTSTRAP
                      ) -> tuple[float, float, float, float]:
    """``(p, mean, low, high)`` of ``method`` against ``control`` by one paired ``test``: the
    one-sided p of "method below control" (``paired_below``) and the difference (method -
    control) with its 95 % interval (``paired_difference``). ``BOOTSTRAP``: both from one
    paired hierarchical bootstrap of the per-case differences; ``T_TEST``: the t-test and t
    interval of the seeds' mean differences. Both need ``MIN_SEEDS`` shared seeds: one seed
    resamples test cases only and misses the run-to-run noise of training (0.1 DSC,
    design.md), and two seeds give the seed level only three distinct resamples (measured: two
    seeds flagged a 0.015 difference at p = 0.044 while the controls moved by 0.12 across
    budgets). Fewer: NaN p and interval, the point alone; none shared: all NaN."""
    difference = _differences(method, control)
    if not len(difference):
        return math.nan, math.nan, math.nan, math.nan
    if len(difference) < MIN_SEEDS:
        return math.nan, _point(difference), math.nan, math.nan
    if test == T_TEST:
        return _t_comparison(difference)
    means = hierarchical_means(difference)
    p_value = float((np.sum(means >= 0) + 1) / (len(means) + 1))
    return (p_value, _point(difference), *_bounds(means))


def _t_comparison(difference: np.ndarray) -> tuple[float, float, float, float]:
    """The one-sided paired t-test (scipy) and 95 % t interval of the seeds' mean differences
    (rows of ``difference``); seeds that all differ by the same amount give p 0 below 0, else
    1, and a zero-width interval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        seed_means = np.nanmean(difference, axis=1)
    mean = float(np.mean(seed_means))
    sem = float(scipy_stats.sem(seed_means))
    if sem == 0:
        return (0.0 if mean < 0 else 1.0), mean, mean, mean
    p_value = float(scipy_stats.ttest_1samp(seed_means, 0.0, alternative="less").pvalue)
    low, high = scipy_stats.t.interval(LEVEL, len(seed_means) - 1, loc=mean, scale=sem)
    return p_value, mean, float(low), float(high)


def paired_below(method: dict[int, dict[str, float]],
                 control: dict[int, dict[str, float]], test: str = BOOTSTRAP) -> float:
    """One-sided p-value that ``method`` scores below ``control`` by ``test`` (the bootstrap:
    the share of paired hierarchical bootstrap means of (method - control) that are >= 0),
    over the seeds and test cases both have; NaN below ``MIN_SEEDS`` shared seeds
    (``paired_comparison``)."""
    return paired_comparison(method, control, test)[0]


def paired_difference(method: dict[int, dict[str, float]],
                      control: dict[int, dict[str, float]], test: str = BOOTSTRAP
                      ) -> tuple[float, float, float]:
    """The paired difference (method - control) and its 95 % interval by ``test``
    (``paired_comparison``)."""
    return paired_comparison(method, control, test)[1:]
