"""pytest-benchmark over uebench's hot paths, tracked against a committed baseline (``make
bench``): VoxShield's N-step, S-step, bare passes and loss terms; one training step per victim
family (unet, swinunetr, unet2d) through ``train_segmenter``; the evaluation of one volume
(``uebench.runner.evaluation.evaluate``: sliding-window inference, DSC, HD95, NSD); and the
protection of one volume as ``uebench protect`` does it (perturb, budget, NIfTI write,
read-back verification).

Sizes are tiny (32^3; SwinUNETR at 64 x 32 x 32, the smallest it takes) and every benchmark
runs with one torch thread, as a 2-worker sweep does on 2 cores. ``make bench`` times with
``time.process_time`` (CPU seconds of this process: on a machine shared with other work, wall
time swings by +-40 % between two runs of unchanged code). Each round is preceded by one pass
of the calibration workload (``uebench.runner.calibration``) timed with the same clock and kept
in the benchmark's ``extra_info``; ``uebench.results.bench_compare`` divides by it. These are
timings, not tests: the module is collected only with ``--benchmark-enable``
(``benchmarks/conftest.py``), so the test suite neither counts nor runs them.

    make bench   # runs these into .benchmarks/hot_paths.json and compares with
                 # benchmarks/baseline/hot_paths.json (python -m benchmarks.compare_hot_paths)
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.voxshield_steps import bare_passes, loss_terms, make_bench, n_step, s_step
from uebench.contracts import registry
from uebench.contracts.core import Preset, RunContext
from uebench.runner import calibration
from uebench.runner.evaluation import evaluate
from uebench.runner.training import seed_everything, train_segmenter

pytestmark = pytest.mark.hot_path

SIZE = 32
# (batch, D, H, W) of one training step: SwinUNETR needs every edge a multiple of 32 and more
# than one voxel at its bottleneck, so 64 x 32 x 32 is its smallest volume.
VICTIM_BATCHES = {"unet": (2, 32, 32, 32), "swinunetr": (1, 64, 32, 32),
                  "unet2d": (2, 32, 32, 32)}
N_CLASSES = 4
ROUNDS = 9  # rounds per benchmark (more for the short loss terms)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CalibrationProbe:
    """One pass of the calibration workload of ``uebench.runner.calibration`` (the same tensors,
    weights and conv3d stack as ``calibration_seconds``), timed on demand, so that it can be
    interleaved with a benchmark's rounds."""

    def __init__(self, timer=time.perf_counter) -> None:
        self.timer = timer
        generator = torch.Generator().manual_seed(calibration.SEED)
        self.x = torch.rand(calibration.SHAPE, generator=generator).requires_grad_(True)
        self.weights = [
            (torch.randn(c_out, c_in, 3, 3, 3, generator=generator) / (27 * c_in) ** 0.5)
            .requires_grad_(True)
            for c_in, c_out in zip(calibration.CHANNELS[:-1], calibration.CHANNELS[1:])]
        self.seconds: list[float] = []
        self.once()  # warm-up, not kept
        self.seconds.clear()

    def once(self) -> None:
        for tensor in (self.x, *self.weights):
            tensor.grad = None
        start = self.timer()
        calibration._workload(self.x, self.weights)
        self.seconds.append(self.timer() - start)


def timed(benchmark, group: str, fn, *args, rounds: int = ROUNDS) -> None:
    """Benchmark ``fn(*args)`` in ``group``: one warm-up call, then ``rounds`` rounds, each
    preceded by one pass of the calibration workload timed with the benchmark's own clock
    (``--benchmark-timer``), its times in ``extra_info["calibration_round_seconds"]`` and
    their median in ``calibration_seconds``. Interleaved, the calibration sees the load the
    benchmark sees."""
    benchmark.group = group
    fn(*args)  # warm-up (allocator, oneDNN primitives) outside the rounds
    probe = CalibrationProbe(getattr(benchmark, "_timer", time.perf_counter))  # same clock
    benchmark.pedantic(fn, args=args, setup=probe.once, rounds=rounds)
    benchmark.extra_info["calibration_seconds"] = statistics.median(probe.seconds)
    benchmark.extra_info["calibration_round_seconds"] = probe.seconds


def tiny_preset(size: int = SIZE, batch: int = 2) -> Preset:
    return Preset(name="hot-path", volume_size=size, n_cases=batch, epochs=1, batch_size=batch,
                  lr=2e-3)


@pytest.fixture(scope="module")
def voxshield():
    return make_bench("cpu", size=SIZE, batch=2)


@pytest.mark.parametrize("piece", ["n_step", "s_step", "bare_passes"])
def test_voxshield_step(benchmark, voxshield, piece):
    timed(benchmark, "voxshield",
          {"n_step": n_step, "s_step": s_step, "bare_passes": bare_passes}[piece], voxshield)


def test_voxshield_loss_terms(benchmark, voxshield):
    with torch.no_grad():
        clean = voxshield.surrogate(voxshield.x)
    timed(benchmark, "voxshield", loss_terms, voxshield, clean + 0.1, clean, rounds=4 * ROUNDS)


@pytest.mark.parametrize("victim", list(VICTIM_BATCHES))
def test_train_step(benchmark, victim):
    """One optimiser step (augmentation, forward, DiceCE, backward, Adam) of ``victim`` at its
    ``small`` scale: ``train_segmenter`` for one epoch over exactly one batch."""
    batch, *shape = VICTIM_BATCHES[victim]
    preset = tiny_preset(batch=batch)
    rng = np.random.default_rng(0)
    images = rng.random((batch, 1, *shape), dtype=np.float32)
    labels = rng.integers(0, N_CLASSES, (batch, *shape)).astype(np.uint8)
    seed_everything(0)
    model = registry.victims.get(victim)().build(1, N_CLASSES, preset)
    timed(benchmark, "train-step", train_segmenter, model, images, labels, preset, 0,
          torch.device("cpu"), "bench", False)


@pytest.fixture(scope="module")
def spheres():
    preset = tiny_preset(batch=3)
    dataset = registry.datasets.get("spheres")()
    return dataset, dataset.build(preset, 0), preset


def test_evaluate_volume(benchmark, spheres):
    """Sliding-window inference of a (seeded, untrained) unet and the DSC / HD95 / NSD of one
    volume."""
    dataset, cases, preset = spheres
    seed_everything(0)
    model = registry.victims.get("unet")().build(1, dataset.n_classes, preset)
    timed(benchmark, "evaluate", evaluate, model, cases[:1], dataset, preset,
          torch.device("cpu"))


def test_protect_volume(benchmark, spheres, tmp_path_factory):
    """``uebench protect``'s per-volume path with VoxShield's generator (seeded, not fitted):
    perturb, budget store/release, map to the file's grid, write the NIfTI, read it back and
    verify the effective budget."""
    from uebench.custodian.export import export_decathlon
    from uebench.custodian.protect import _protect_case
    from uebench.datasets.decathlon import DecathlonFolder
    from uebench.kit.patches import WholeVolumes
    from uebench.kit.surrogates import case_tensors
    from uebench.methods.voxshield import VoxShield, roi_mask

    dataset, cases, preset = spheres
    root = export_decathlon(dataset, cases[:1], tmp_path_factory.mktemp("msd") / "Task01")
    out = tmp_path_factory.mktemp("protected")
    folder = DecathlonFolder(str(root))
    epsilon = 8 / 255
    method = VoxShield(epsilon, preset)
    ctx = RunContext(preset, 0, torch.device("cpu"), 1, folder.n_classes, progress=False)
    images, labels = case_tensors(cases[:1], ctx.device)
    method._setup(WholeVolumes(images, labels, roi_mask(labels, "hard")), ctx,
                  torch.Generator().manual_seed(0))
    budget = method.budget(ctx)
    timed(benchmark, "protect", _protect_case, folder.entries[0], folder, method, budget, ctx,
          Path(root), out, epsilon)
