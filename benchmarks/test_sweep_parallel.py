"""The serial-vs-parallel benchmark (the measured run is the script itself) really trains
``jobs`` victims each way: neither side can finish in less time than the trainings take."""

import time

import torch

from benchmarks.sweep_parallel import compare, train_one


def test_compare_runs_every_training_both_ways():
    threads = torch.get_num_threads()
    try:
        start = time.perf_counter()
        one = train_one(0, 1, 1, cases=2, size=16)
        assert 0 < one <= time.perf_counter() - start
        result = compare(jobs=4, epochs=1, workers=2, cases=2, size=16)
    finally:
        torch.set_num_threads(threads)
    # Lower bounds with room for a shared machine's swings (a training is seconds; a side that
    # skipped its trainings would take milliseconds).
    assert result["serial_seconds"] >= 0.25 * 4 * one
    assert result["parallel_seconds"] >= 0.25 * 2 * one  # 4 trainings on 2 workers
    assert result["speedup"] > 0
