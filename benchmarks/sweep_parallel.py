"""One process with N threads against N processes with one thread each, on the work a sweep is
made of: victim trainings (``train_segmenter``, the quick preset's unet, random data of the
quick shape). Prints the wall time of ``jobs`` trainings both ways and their ratio, measured
side by side in one run; `uebench sweep --workers` is worth it when the ratio is above 1.

    python benchmarks/sweep_parallel.py [--jobs 4] [--epochs 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import torch

from uebench.contracts import registry
from uebench.contracts.presets import get_preset
from uebench.runner.training import train_segmenter


def train_one(seed: int, epochs: int, threads: int, cases: int = 14, size: int = 64) -> float:
    """One quick-preset unet training on random data; returns its wall seconds."""
    torch.set_num_threads(threads)
    preset = replace(get_preset("quick"), epochs=epochs, volume_size=size)
    rng = np.random.default_rng(seed)
    images = rng.random((cases, 4, size, size, size), dtype=np.float32)
    labels = rng.integers(0, 4, (cases, size, size, size)).astype(np.uint8)
    torch.manual_seed(seed)
    model = registry.victims.get("unet")().build(4, 4, preset)
    start = time.perf_counter()
    train_segmenter(model, images, labels, preset, seed, torch.device("cpu"), progress=False)
    return time.perf_counter() - start


def compare(jobs: int, epochs: int, workers: int, cases: int = 14,
            size: int = 64) -> dict[str, float]:
    """``jobs`` trainings in one process with ``workers`` threads, then in ``workers``
    spawned processes with one thread each."""
    start = time.perf_counter()
    for seed in range(jobs):
        train_one(seed, epochs, workers, cases, size)
    serial = time.perf_counter() - start
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(time.sleep, [1.0] * workers))  # every worker started before the clock
        start = time.perf_counter()
        list(pool.map(train_one, range(jobs), [epochs] * jobs, [1] * jobs, [cases] * jobs,
                      [size] * jobs))
        parallel = time.perf_counter() - start
    return {"jobs": jobs, "epochs": epochs, "workers": workers,
            "serial_seconds": serial, "parallel_seconds": parallel,
            "speedup": serial / parallel}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(compare(args.jobs, args.epochs, args.workers), indent=2))


if __name__ == "__main__":
    main()
