"""Side-by-side timings of VoxShield's hot path: one N-step, one S-step, the two loss terms
alone, the bare network passes of the update (clean surrogate forward, generator
forward/backward, surrogate forward/backward), and the stored-delta pass (the generator's
forward after the update, whose output the spec stores for the next S-steps; the reference
runs it too). Prints times and the ratios the issue asks for: the loss terms' share of an
N-step, and the N-step relative to the bare passes; then the N-step relative to the bare
passes plus the stored-delta pass, every network pass the algorithm needs.

The N-step and the bare passes run with the surrogate frozen exactly as ``VoxShield.fit`` runs
its N-steps (``uebench.kit.surrogates.frozen``: eval mode, no weight gradients), so the benchmark
times what a run computes.

    python benchmarks/voxshield_steps.py [--device cpu|cuda] [--size 64] [--batch 2] [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import torch
from tabulate import tabulate

from uebench.contracts.core import Preset, RunContext
from uebench.kit.patches import WholeVolumes
from uebench.kit.surrogates import Surrogate, autocast, frozen, parse_channels, surrogate_step
from uebench.methods.voxshield import VoxShield, roi_mask, semantic_disruption, zdiv


@dataclass
class Bench:
    method: VoxShield
    surrogate: torch.nn.Module
    optimiser: torch.optim.Optimizer
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    idx: torch.Tensor
    data: WholeVolumes  # the training set as ``fit`` holds it on the cube grid
    loss_fn: torch.nn.Module
    amp: bool
    delta: torch.Tensor  # a fixed stand-in for the generator's delta, for the loss terms alone


def make_bench(device: str = "cpu", size: int = 64, batch: int = 2, channels: int = 4,
               n_classes: int = 4, preset: str = "quick") -> Bench:
    """A VoxShield method and surrogate with the preset's widths on random data."""
    torch.manual_seed(0)
    dev = torch.device(device)
    p = Preset(name=preset, volume_size=size, n_cases=batch, epochs=1, batch_size=batch)
    method = VoxShield(4 / 255, p)
    amp, channels_last = method.params["amp"], method.params["channels_last"]
    x = torch.rand(batch, channels, size, size, size, device=dev)
    y = torch.randint(0, n_classes, (batch, 1, size, size, size), device=dev)
    ctx = RunContext(p, 0, dev, channels, n_classes, progress=False)
    data = WholeVolumes(x, y, roi_mask(y, "hard"))
    method._setup(data, ctx, torch.Generator().manual_seed(0))
    surrogate = Surrogate(3, channels, n_classes,
                          parse_channels(method.params["surrogate_channels"]), 5e-4, dev,
                          act="RELU", amp=amp, channels_last=channels_last)
    return Bench(method, surrogate.model, surrogate.optimiser, x, y, roi_mask(y, "hard"),
                 torch.arange(batch, device=dev), data, surrogate.loss_fn, amp,
                 0.01 * torch.randn_like(x))


def n_step(b: Bench) -> None:
    """One N-step as ``fit`` runs it: surrogate frozen (eval, weights not trainable)."""
    with frozen(b.surrogate):
        b.method._n_step(b.surrogate, b.loss_fn, b.data.batch(b.idx), b.data)


def s_step(b: Bench) -> None:
    surrogate_step(b.surrogate, b.optimiser, b.loss_fn, (b.x + b.method.stored).clamp(0, 1), b.y,
                   b.amp)


def bare_passes(b: Bench) -> None:
    """Clean forward (no grad) + generator forward + surrogate forward + one backward, with
    the surrogate frozen as in the N-step (the backward reaches the generator's weights only)."""
    with frozen(b.surrogate):
        with torch.no_grad(), autocast(b.x.device, b.amp):
            b.surrogate(b.x)
        with autocast(b.x.device, b.amp):
            delta = b.method.generator(b.x)
            out = b.surrogate(b.x + delta)
        out.float().mean().backward()


def stored_delta_pass(b: Bench) -> None:
    """The generator's forward after the update, without gradients: ``delta = G(x)`` as the
    N-step stores it."""
    with torch.no_grad():
        b.method._generate(b.x, b.mask)


def loss_terms(b: Bench, logits: torch.Tensor, clean: torch.Tensor) -> None:
    """The two VoxShield regularisers, forward and backward, on tensors of the step's shapes
    (the inputs are drawn once, in ``make_bench``: drawing them is not part of the terms)."""
    delta = b.delta.detach().requires_grad_(True)
    logits = logits.detach().requires_grad_(True)
    (zdiv(delta) + semantic_disruption(logits, clean)).backward()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(b: Bench, rounds: int = 9) -> dict[str, float]:
    """Median seconds of each piece over ``rounds`` rounds, the pieces interleaved within each
    round (one call each), so that drift in the machine's load reaches every piece alike."""
    with torch.no_grad():
        clean = b.surrogate(b.x).float()
    logits = clean + 0.1
    pieces = {
        "n_step": lambda: n_step(b),
        "s_step": lambda: s_step(b),
        "bare_passes": lambda: bare_passes(b),
        "stored_delta_pass": lambda: stored_delta_pass(b),
        "loss_terms": lambda: loss_terms(b, logits, clean),
    }
    for fn in pieces.values():  # warm-up (cuDNN autotune, allocator)
        fn()
    samples: dict[str, list[float]] = {name: [] for name in pieces}
    for _ in range(rounds):
        for name, fn in pieces.items():
            _sync(b.x.device)
            start = time.perf_counter()
            fn()
            _sync(b.x.device)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    b = make_bench(args.device, args.size, args.batch, preset=args.preset)
    times = measure(b, args.rounds)
    ratios = {"loss_terms_share_of_n_step": times["loss_terms"] / times["n_step"],
              "n_step_over_bare_passes": times["n_step"] / times["bare_passes"],
              "n_step_over_all_passes": times["n_step"] / (times["bare_passes"]
                                                           + times["stored_delta_pass"])}
    device = torch.cuda.get_device_name() if b.x.is_cuda else f"cpu x{torch.get_num_threads()}"
    print(f"device: {device}; volume {args.size}^3, batch {args.batch}, preset {args.preset}")
    print(tabulate([(k, f"{v * 1e3:.1f}") for k, v in times.items()], ["piece", "ms (median)"]))
    print(tabulate([(k, f"{v:.3f}") for k, v in ratios.items()], ["ratio", "value"]))
    print(json.dumps({"device": device, "times_s": times, "ratios": ratios}))


if __name__ == "__main__":
    main()
