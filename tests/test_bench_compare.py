"""``uebench.results.bench_compare``: the hot-path benchmark comparison on synthetic
pytest-benchmark
JSON (no benchmark runs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from uebench.results.bench_compare import compare, main

BASE = {"test_voxshield_step[n_step]": 0.30, "test_voxshield_step[s_step]": 0.12,
        "test_train_step[unet]": 0.20, "test_evaluate_volume": 0.50}
CALIBRATION = 0.05


def document(times: dict[str, float], calibration: float | None = CALIBRATION) -> dict:
    """The parts of a ``--benchmark-json`` file that the comparison reads."""
    benchmarks = []
    for name, seconds in times.items():
        extra = {} if calibration is None else {"calibration_seconds": calibration}
        benchmarks.append({"name": name, "fullname": f"benchmarks/test_hot_paths.py::{name}",
                           "group": "g", "extra_info": extra,
                           "stats": {"min": seconds * 0.9, "median": seconds,
                                     "mean": seconds * 1.05, "rounds": 5}})
    return {"machine_info": {}, "benchmarks": benchmarks, "version": "5.1.0"}


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def run(tmp_path: Path, new: dict, base: dict, *args: str, capsys) -> tuple[int, str]:
    code = main([str(write(tmp_path / "new.json", new)),
                 str(write(tmp_path / "base.json", base)), *args])
    return code, capsys.readouterr().out


def test_unchanged_passes(tmp_path, capsys):
    base = document(BASE)
    noisy = document({k: v * 1.1 for k, v in BASE.items()})  # within 25 %
    code, out = run(tmp_path, noisy, base, capsys=capsys)
    assert code == 0, out
    assert "no regression: 4 benchmark(s) within 25%" in out
    assert "REGRESSION" not in out


def test_twice_slower_entry_fails_naming_it(tmp_path, capsys):
    times = dict(BASE, **{"test_train_step[unet]": 2 * BASE["test_train_step[unet]"]})
    code, out = run(tmp_path, document(times), document(BASE), capsys=capsys)
    assert code == 1, out
    moved = [line for line in out.splitlines() if line.startswith("test_")]
    assert len(moved) == 1 and moved[0].startswith("test_train_step[unet]")
    assert "+100%" in moved[0] and "4.000" in moved[0] and "8.000" in moved[0]  # the ratios
    assert "REGRESSION: 1 of 4 benchmark(s)" in out


def test_uniformly_slower_machine_passes(tmp_path, capsys):
    """Three times slower everywhere, calibration included: the ratios do not move."""
    slower = document({k: 3 * v for k, v in BASE.items()}, calibration=3 * CALIBRATION)
    code, out = run(tmp_path, slower, document(BASE), capsys=capsys)
    assert code == 0, out
    # ... and the same raw times without the calibration's excuse do move
    code, out = run(tmp_path, document({k: 3 * v for k, v in BASE.items()}), document(BASE),
                    capsys=capsys)
    assert code == 1 and "REGRESSION: 4 of 4" in out


def test_faster_machine_hides_no_slowdown(tmp_path, capsys):
    """A machine twice as fast with one benchmark as slow as before: that one moved."""
    times = {k: v / 2 for k, v in BASE.items()}
    times["test_evaluate_volume"] = BASE["test_evaluate_volume"]
    code, out = run(tmp_path, document(times, calibration=CALIBRATION / 2), document(BASE),
                    capsys=capsys)
    assert code == 1
    assert [line.split()[0] for line in out.splitlines()
            if line.startswith("test_")] == ["test_evaluate_volume"]


def test_tolerance_and_statistic(tmp_path):
    base = write(tmp_path / "base.json", document(BASE))
    slower = copy.deepcopy(document(BASE))
    slower["benchmarks"][0]["stats"]["median"] *= 1.4
    new = write(tmp_path / "new.json", slower)
    assert compare(new, base, tolerance=0.25).regressions
    assert not compare(new, base, tolerance=0.5).regressions
    assert not compare(new, base, tolerance=0.25, stat="min").regressions  # min unchanged


def test_uncalibrated_compares_raw_seconds_and_says_so(tmp_path, capsys):
    code, out = run(tmp_path, document(BASE, None), document(BASE, None), capsys=capsys)
    assert code == 0
    assert "4 benchmark(s) compared on raw seconds (no calibration time)" in out


def test_benchmarks_in_one_file_only_are_listed(tmp_path, capsys):
    new = document({**BASE, "test_new_thing": 1.0})
    code, out = run(tmp_path, new, document(BASE), capsys=capsys)
    assert code == 0
    assert "1 benchmark(s) only in NEW, not compared: test_new_thing" in out


@pytest.mark.parametrize("case", ["missing", "empty", "disjoint"])
def test_nothing_to_compare_exits_2(tmp_path, capsys, case):
    base = write(tmp_path / "base.json", document(BASE))
    new = {"missing": tmp_path / "nope.json",
           "empty": write(tmp_path / "new.json", {"benchmarks": []}),
           "disjoint": write(tmp_path / "new.json", document({"test_other": 1.0}))}[case]
    assert main([str(new), str(base)]) == 2
    assert "Error:" in capsys.readouterr().err
