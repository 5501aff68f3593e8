"""Side-by-side timings of VoxShield's hot path: one N-step, one S-step, the two loss terms
alone, and the bare network passes an N-step cannot avoid (clean surrogate forward, generator
forward/backward, surrogate forward/backward). Prints times and the ratios the issue asks for:
the loss terms' share of an N-step, and the N-step relative to the bare passes.

The N-step and the bare passes run with the surrogate frozen exactly as ``VoxShield.fit`` runs
its N-steps (``uebench.surrogates.frozen``: eval mode, no weight gradients), so the benchmark
times what a run computes.

    python benchmarks/voxshield_steps.py [--device cpu|cuda] [--size 64] [--batch 2]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import torch
from tabulate import tabulate
from torch.utils.benchmark import Timer

from uebench.core import Preset, RunContext
from uebench.methods.voxshield import VoxShield, roi_mask, semantic_disruption, zdiv
from uebench.surrogates import Surrogate, autocast, frozen, parse_channels, surrogate_step


@dataclass
class Bench:
    method: VoxShield
    surrogate: torch.nn.Module
    optimiser: torch.optim.Optimizer
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    idx: torch.Tensor
    loss_fn: torch.nn.Module
    amp: bool


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
    method._setup(x, roi_mask(y, "hard"), ctx, torch.Generator().manual_seed(0))
    surrogate = Surrogate(3, channels, n_classes,
                          parse_channels(method.params["surrogate_channels"]), 5e-4, dev,
                          act="RELU", amp=amp, channels_last=channels_last)
    return Bench(method, surrogate.model, surrogate.optimiser, x, y, roi_mask(y, "hard"),
                 torch.arange(batch, device=dev), surrogate.loss_fn, amp)


def n_step(b: Bench) -> None:
    """One N-step as ``fit`` runs it: surrogate frozen (eval, weights not trainable)."""
    with frozen(b.surrogate):
        b.method._n_step(b.surrogate, b.loss_fn, b.x, b.y, b.mask, b.idx)


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


def loss_terms(b: Bench, logits: torch.Tensor, clean: torch.Tensor) -> None:
    """The two VoxShield regularisers, forward and backward, on tensors of the step's shapes."""
    delta = (0.01 * torch.randn_like(b.x)).requires_grad_(True)
    logits = logits.detach().requires_grad_(True)
    (zdiv(delta) + semantic_disruption(logits, clean)).backward()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(b: Bench, min_run_time: float = 3.0) -> dict[str, float]:
    """Median seconds of each piece, timed one after the other in this process."""
    with torch.no_grad():
        clean = b.surrogate(b.x).float()
    logits = clean + 0.1
    pieces = {
        "n_step": lambda: n_step(b),
        "s_step": lambda: s_step(b),
        "bare_passes": lambda: bare_passes(b),
        "loss_terms": lambda: loss_terms(b, logits, clean),
    }
    for fn in pieces.values():  # warm-up (cuDNN autotune, allocator)
        fn()
    _sync(b.x.device)
    times = {}
    for name, fn in pieces.items():
        timer = Timer("fn(); sync()", globals={"fn": fn, "sync": lambda: _sync(b.x.device)})
        times[name] = timer.blocked_autorange(min_run_time=min_run_time).median
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--min-run-time", type=float, default=3.0)
    args = parser.parse_args()
    b = make_bench(args.device, args.size, args.batch, preset=args.preset)
    times = measure(b, args.min_run_time)
    ratios = {"loss_terms_share_of_n_step": times["loss_terms"] / times["n_step"],
              "n_step_over_bare_passes": times["n_step"] / times["bare_passes"]}
    device = torch.cuda.get_device_name() if b.x.is_cuda else f"cpu x{torch.get_num_threads()}"
    print(f"device: {device}; volume {args.size}^3, batch {args.batch}, preset {args.preset}")
    print(tabulate([(k, f"{v * 1e3:.1f}") for k, v in times.items()], ["piece", "ms (median)"]))
    print(tabulate([(k, f"{v:.3f}") for k, v in ratios.items()], ["ratio", "value"]))
    print(json.dumps({"device": device, "times_s": times, "ratios": ratios}))


if __name__ == "__main__":
    main()
