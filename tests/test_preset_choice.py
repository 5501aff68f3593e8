"""The preset choice's arithmetic (benchmarks/preset_choice.py): seeds needed for a 0.05 paired
difference, the t-test's power, the SD's chi-square range, pooling, variance components, the
cost's count of victim trainings, and quick's committed seed spread."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import preset_choice as pc


def test_normal_seeds_follow_the_formula():
    # (z_0.95 + z_0.8) = 1.6449 + 0.8416 = 2.4865; (2.4865 * sd / 0.05)^2 rounded up
    assert pc.seeds_needed(0.05) == 7  # 6.18
    assert pc.seeds_needed(0.058) == 9  # 8.32
    assert pc.seeds_needed(0.024) == 2  # 1.42
    assert pc.seeds_needed(0.1) == 25  # 24.73
    assert pc.seeds_needed(0.0) == 1
    assert pc.seeds_needed(0.05, delta=0.1) == 2  # 1.55


def test_t_seeds_are_the_first_n_with_power_0_8():
    for sd in (0.015, 0.024, 0.033, 0.058, 0.075):
        n = pc.seeds_needed_t(sd)
        assert pc.power_t(n, sd) >= 0.8
        assert n == 2 or pc.power_t(n - 1, sd) < 0.8
        assert n >= pc.seeds_needed(sd)  # the t-test never needs fewer than the normal n
    assert pc.seeds_needed_t(0.024) == 4
    assert pc.seeds_needed_t(0.058) == 10


def test_t_power_matches_statsmodels():
    power = pytest.importorskip("statsmodels.stats.power")
    for sd, n in ((0.024, 3), (0.058, 10), (0.075, 16)):
        expected = power.TTestPower().power(effect_size=0.05 / sd, nobs=n, alpha=0.05,
                                            alternative="larger")
        assert pc.power_t(n, sd) == pytest.approx(expected, rel=1e-6)
        solved = power.TTestPower().solve_power(effect_size=0.05 / sd, alpha=0.05, power=0.8,
                                                alternative="larger")
        assert pc.seeds_needed_t(sd) == math.ceil(solved)


def test_the_sd_range_is_the_chi_square_interval():
    low, high = pc.sd_interval(1.0, 2)
    assert low == pytest.approx(0.5207, abs=1e-3)
    assert high == pytest.approx(6.2847, abs=1e-3)
    low, high = pc.sd_interval(0.05, 12)
    assert low < 0.05 < high and high / low < 3


def test_pooled_sd_weights_variances_by_df():
    sd, df = pc.pooled_sd([0.03, 0.04], [2, 2])
    assert df == 4 and sd == pytest.approx(math.sqrt((0.03 ** 2 + 0.04 ** 2) / 2))
    sd, df = pc.pooled_sd([0.02, 0.1], [10, 2])
    assert df == 12 and sd == pytest.approx(math.sqrt((10 * 0.0004 + 2 * 0.01) / 12))
    assert math.isnan(pc.pooled_sd([], [])[0])


def test_variance_components_recover_a_known_split():
    rng = np.random.default_rng(0)
    seeds, cases = 400, 60
    values = (rng.normal(0, 0.03, (seeds, 1)) + rng.normal(0, 0.05, (1, cases))
              + rng.normal(0, 0.04, (seeds, cases)))
    seed_var, case_var, residual_var = pc.variance_components(values)
    assert seed_var == pytest.approx(0.03 ** 2, rel=0.2)
    assert case_var == pytest.approx(0.05 ** 2, rel=0.5)
    assert residual_var == pytest.approx(0.04 ** 2, rel=0.05)
    assert pc.project_test_cases(0.0009, 0.0016, 16) == pytest.approx(math.sqrt(0.0009 + 0.0001))


def _record(method: str, eps: float, seed: int, clean_s: float, protected_s: float,
            protect_s: float, threads: int = 1) -> dict:
    device = f"cpu ({threads} threads, x86_64)"
    return {
        "spec": {"method": method, "epsilon": eps, "seed": seed, "method_params": {}},
        "method": {"role": "reference" if method == "clean" else "protection"},
        "environment": {"device": device},
        "preset": {"epochs": 10},
        "throughput": {"protect": {"wall_seconds": protect_s, "device": device},
                       "victim_training": {"clean": {"seconds_per_epoch": clean_s / 11},
                                           "protected": {"seconds_per_epoch": protected_s / 11}}},
        "timings": {"stage_seconds": {"protect": protect_s, "clean_victim": clean_s,
                                      "protected_victim": clean_s if method == "clean"
                                      else protected_s}},
    }


def test_a_clean_victim_shared_by_budgets_is_one_training():
    # one seed: the clean victim (110 s) in all four records; two protected victims
    records = [_record("clean", 4 / 255, 0, 110.0, 110.0, 1.0),
               _record("clean", 8 / 255, 0, 110.0, 110.0, 1.0),
               _record("voxshield", 4 / 255, 0, 110.0, 220.0, 300.0),
               _record("voxshield", 8 / 255, 0, 110.0, 330.0, 500.0, threads=2)]
    cost = pc.costs(records)
    assert cost["victim_trainings"] == 3  # not 4 clean + 2 protected
    assert cost["clean_train"] == pytest.approx(100.0)  # 10 epochs of 10 s
    assert cost["protected_train"] == pytest.approx((200.0 + 600.0) / 2)  # median; 2 threads
    assert cost["protect_voxshield"] == pytest.approx((300.0 + 1000.0) / 2)


def test_threads_and_the_swinunetr_floor():
    from uebench.victims.monai_nets import SwinUNETRVictim

    assert (SwinUNETRVictim.min_size, SwinUNETRVictim.size_multiple) == (
        pc.SWINUNETR_MIN_SIZE, pc.SWINUNETR_SIZE_MULTIPLE)
    assert pc.threads("cpu (2 threads, x86_64)") == 2 and pc.threads("cpu") == 1
    assert pc.swinunetr_fits(64) and pc.swinunetr_fits(96)
    assert not pc.swinunetr_fits(48) and not pc.swinunetr_fits(32) and not pc.swinunetr_fits(80)


def test_quick_s_committed_seed_spread():
    records = pc.load(pc.LEADERBOARDS / "archive" / "protocol-3" / "cpu" / "records")[
        ("quick", "unet", ".")]
    row, pairs = pc.preset_row("quick", "unet", ".", records, pc.protocol_1_ratios())
    assert row["clean_per_seed"] == "0.679 / 0.890 / 0.880"
    assert row["clean_sd"] == pytest.approx(0.119, abs=1e-3)
    assert row["paired_df"] == 12  # em, voxshield at 4/255, random at 4 budgets: 6 x 2
    assert row["paired_sd"] == pytest.approx(0.058, abs=1e-3)
    assert row["weak_clean_seeds"] == 1  # seed 0 misses the reference bar
    assert set(pairs[pairs["null"]]["method"]) == {"em", "voxshield", "random"}


def test_the_pick_skips_weak_victims_and_other_recipes():
    import pandas as pd

    table = pd.DataFrame([
        # preset, recipe, weak seeds, board CPU-h at the seeds run, SwinUNETR fits
        {"preset": "weak", "recipe": "uebench", "weak_clean_seeds": 1, "board_h_run": 1.0},
        {"preset": "authors", "recipe": "authors", "weak_clean_seeds": 0, "board_h_run": 2.0},
        {"preset": "cheap", "recipe": "uebench", "weak_clean_seeds": 0, "board_h_run": 5.0},
        {"preset": "big", "recipe": "uebench", "weak_clean_seeds": 0, "board_h_run": 9.0},
    ]).assign(victim="unet", board_h_hi=20.0, swinunetr_fits=[True, False, False, True],
              protocol=3)
    assert pc.pick(table)["preset"] == "cheap"
    assert pc.pick(table, transfer=True)["preset"] == "big"


def test_the_pick_compares_costs_within_the_protocol_that_measured_most_candidates():
    """A protocol-4 row (its runs with the allocator, cheaper by ~0.72x) does not win on a
    cost that protocol 3's rows could not have had."""
    import pandas as pd

    table = pd.DataFrame([
        {"preset": "a", "protocol": 3, "board_h_run": 6.8},
        {"preset": "b", "protocol": 3, "board_h_run": 7.0},
        {"preset": "a-later", "protocol": 4, "board_h_run": 6.4},
    ]).assign(victim="unet", recipe="uebench", weak_clean_seeds=0, board_h_hi=20.0,
              swinunetr_fits=False)
    assert pc.pick(table)["preset"] == "a"


def test_the_proxy_check_reads_single_seed_steps_that_ran(tmp_path):
    """The sweep log's steps that skipped recorded runs, or mixed seeds, are not compared."""
    record = {"spec": {"preset": "canary", "seed": 0, "epsilon": 4 / 255}, "method": {},
              "environment": {"device": "cpu (1 threads)"},
              "timings": {"stage_seconds": {"protect": 45.0, "victim": None}}}
    other_budget = {**record, "spec": {**record["spec"], "epsilon": 32 / 255},
                    "timings": {"stage_seconds": {"protect": 60.0}}}
    timed = ('\tCommand being timed: "uebench sweep --workers 2 {args}"\n'
             "\tUser time (seconds): {cpu}\n\tSystem time (seconds): 0\n"
             "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:00\n\tExit status: 0\n")
    log = tmp_path / "sweep-log.txt"
    log.write_text(
        "== one seed, code at abc\n[1/1] x\n"
        + timed.format(args="--seed 0 --preset canary --eps 4/255", cpu=90)
        + "== skipped, code at abc\n" + timed.format(args="--seed 0 --preset canary", cpu=3)
        + "== two seeds, code at abc\n[1/2] x\n[2/2] y\n"
        + timed.format(args="--seed 0 --seed 1 --preset canary", cpu=200))
    check = pc.sweep_log_check([record, other_budget], log)
    assert list(check["process CPU s"]) == [90]
    assert list(check["sweep wall s"]) == [60]
    assert list(check["proxy / CPU"]) == [0.5]


def _rows(*rows: dict) -> pd.DataFrame:
    """A preset-choice table of unet rows (the columns the texts read), one per ``rows``."""
    return pd.DataFrame([{"victim": "unet", "folder": "records", "clean_seeds": 4,
                          "paired_df": 15, "weak_clean_seeds": 0, **row} for row in rows])


def test_board_measured_compares_the_board_with_the_pick():
    pick = _rows(dict(preset="canary-v48", protocol=3, paired_sd=0.024, paired_sd_lo=0.014,
                      paired_sd_hi=0.069)).iloc[0]

    def text(sd):
        table = _rows(dict(preset="canary-v48", protocol=4, paired_sd=sd, paired_sd_lo=sd / 2,
                           paired_sd_hi=sd * 2),
                      dict(preset="canary", protocol=4, paired_sd=0.5, paired_sd_lo=0.2,
                           paired_sd_hi=0.9))
        return pc.board_measured(table, pick, lambda r: f"n({r['paired_sd']})")

    assert "paired SD at 0.047" in text(0.047)
    assert "within the pick's range: n(0.047)" in text(0.047)
    assert "above the pick's range" in text(0.08)
    assert "0.500" not in text(0.047)  # another preset's row is not the board's
    assert pc.board_measured(_rows(dict(preset="canary", protocol=4, paired_sd=0.1)), pick,
                             str) == ""


def test_swinunetr_measured_says_what_the_records_hold():
    transfer = _rows(dict(preset="canary-v64"))
    assert "not measured" in pc.swinunetr_measured(transfer, transfer.iloc[0])
    held = _rows(dict(preset="canary-v64"),
                 dict(preset="canary-v64", victim="swinunetr", folder="transfer/records",
                      clean_per_seed="0.980 / 0.966", weak_clean_seeds=0))
    assert "0.980 / 0.966 in `transfer/records`, passing" in pc.swinunetr_measured(
        held, held.iloc[0])
    held.loc[1, "weak_clean_seeds"] = 1
    assert "below the reference bar on 1 seed(s)" in pc.swinunetr_measured(held, held.iloc[0])
