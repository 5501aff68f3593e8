"""Smoke test of the serial-vs-parallel benchmark (the measured run is the script itself)."""

from benchmarks.sweep_parallel import compare


def test_compare_times_both_ways_on_a_tiny_workload():
    result = compare(jobs=2, epochs=1, workers=2, cases=2, size=16)
    assert result["serial_seconds"] > 0 and result["parallel_seconds"] > 0
    assert result["speedup"] == result["serial_seconds"] / result["parallel_seconds"]
