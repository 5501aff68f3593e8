"""What makes CPU training faster (issue 16, "the cost of faithfulness"): the training steps the
CPU boards spend their time in, each timed side by side in one process under the harness's
setting (eager, contiguous) and under each candidate, as ratios:

- the steps: a victim train step (unet and swinunetr at quick's small widths, DiceCE, Adam, one
  64^3 case) and VoxShield's N-step and S-step (``benchmarks/voxshield_steps.py``'s bench);
- the candidates: channels-last-3d memory format, ``torch.compile`` (inductor) and two torch
  threads instead of one (the sweep runs one thread per worker);
- for each candidate, its first result (a victim's loss; VoxShield's stored delta's L1 sum)
  against eager's on the same weights and batch, and its relative drift from eager's after
  every timed update (the tolerance check: a speed-up is adoptable only if it does not change
  results), and for compile the compile time and the steps needed to win it back;
- the 2-core limit: the FLOPs of one unet train step at 64^3 (``torch.utils.flop_counter``)
  over the peak FLOP/s of a large conv3d measured here, and the measured step's ratio to it.

    python benchmarks/cpu_speedups.py [--rounds 7] [--steps unet,swinunetr,voxshield]
        [--json OUT.json]

Timings interleave the variants within each round, so drift in the machine's load reaches all
of them alike; every time is a median over the rounds, on the device named in the output.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tabulate import tabulate
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.voxshield_steps import Bench, make_bench, n_step, s_step
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import victims
from uebench.runner.environment import cpu_model
from uebench.runner.training import dice_ce_loss

SIZE = 64


@dataclass
class Variant:
    """One way of running a step: its name, how it transforms the model and the batch, and the
    torch thread count it runs under."""

    name: str
    channels_last: bool = False
    compiled: bool = False
    threads: int = 1


VARIANTS = (Variant("eager (harness)"), Variant("channels-last-3d", channels_last=True),
            Variant("torch.compile", compiled=True), Variant("2 threads", threads=2))


def _layout(t: torch.Tensor, variant: Variant) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last_3d) if variant.channels_last else t


class VictimStep:
    """A victim's train step (forward, DiceCE, backward, Adam) on one fixed batch."""

    def __init__(self, name: str, base: torch.nn.Module, variant: Variant) -> None:
        self.name = name
        model = copy.deepcopy(base)
        if variant.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        self.optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        self.model = torch.compile(model) if variant.compiled else model
        self.variant = variant
        self.loss_fn = dice_ce_loss()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.optimiser.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(_layout(x, self.variant)), y)
        loss.backward()
        self.optimiser.step()
        return loss.item()


def victim_steps(name: str, variants: tuple[Variant, ...] = VARIANTS,
                 size: int = SIZE) -> dict[str, Callable[[], float]]:
    """One step closure per variant for victim ``name``, all starting from the same weights."""
    torch.manual_seed(0)
    base = victims.get(name)().build(4, 4, get_preset("quick"))
    x = torch.rand(1, 4, size, size, size)
    y = torch.randint(0, 4, (1, 1, size, size, size))
    steps = {v.name: VictimStep(name, base, v) for v in variants}
    return {k: (lambda s=s: s(x, y)) for k, s in steps.items()}


def _voxshield_variant(variant: Variant, size: int) -> Bench:
    b = make_bench("cpu", size, 2, preset="quick")
    if variant.channels_last:
        b.surrogate.to(memory_format=torch.channels_last_3d)
        b.method.generator.to(memory_format=torch.channels_last_3d)
        b.x = _layout(b.x, variant)
    if variant.compiled:
        b.surrogate = torch.compile(b.surrogate)
        b.method.generator = torch.compile(b.method.generator)
    return b


def voxshield_steps(variants: tuple[Variant, ...] = VARIANTS,
                    size: int = SIZE) -> dict[str, Callable[[], float]]:
    """VoxShield's N-step followed by an S-step, per variant (each variant its own bench, built
    from the same seed)."""
    steps: dict[str, Callable[[], float]] = {}
    for v in variants:
        b = _voxshield_variant(v, size)

        def step(b=b) -> float:
            n_step(b)
            s_step(b)
            return float(b.method.stored.abs().sum())
        steps[v.name] = step
    return steps


def time_variants(steps: dict[str, Callable[[], float]], rounds: int,
                  variants: tuple[Variant, ...] = VARIANTS) -> dict[str, dict]:
    """First call (its result and wall time, compile included), then the median over ``rounds``
    interleaved rounds, each variant under its own thread count; the result of the last call,
    after ``rounds + 2`` updates from the same weights on the same batch, is the drift check."""
    threads = {v.name: v.threads for v in variants}
    out: dict[str, dict] = {}
    for name, fn in steps.items():
        torch.set_num_threads(threads[name])
        start = time.perf_counter()
        first = fn()
        out[name] = {"first_result": first, "first_call_s": time.perf_counter() - start,
                     "samples": []}
        fn()  # a second warm-up: compile's recompilation on the second call, allocator
    for _ in range(rounds):
        for name, fn in steps.items():
            torch.set_num_threads(threads[name])
            start = time.perf_counter()
            out[name]["last_result"] = fn()
            out[name]["samples"].append(time.perf_counter() - start)
    torch.set_num_threads(1)
    for row in out.values():
        row["median_s"] = statistics.median(row.pop("samples"))
    return out


def peak_conv3d_flops(threads: int, rounds: int = 5) -> float:
    """FLOP/s of a large conv3d (64 -> 64 channels, 3^3 kernel, 64^3 voxels) forward, the best
    case for this CPU's convolution kernels, at ``threads`` torch threads."""
    torch.set_num_threads(threads)
    conv = torch.nn.Conv3d(64, 64, 3, padding=1)
    x = torch.rand(1, 64, SIZE, SIZE, SIZE)
    with torch.no_grad():
        conv(x)
        with FlopCounterMode(display=False) as counter:
            conv(x)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            conv(x)
            times.append(time.perf_counter() - start)
    torch.set_num_threads(1)
    return counter.get_total_flops() / min(times)


def unet_step_flops() -> int:
    """FLOPs of one unet train step (forward and backward) on one 64^3 case."""
    torch.manual_seed(0)
    model = victims.get("unet")().build(4, 4, get_preset("quick"))
    x = torch.rand(1, 4, SIZE, SIZE, SIZE)
    y = torch.randint(0, 4, (1, 1, SIZE, SIZE, SIZE))
    with FlopCounterMode(display=False) as counter:
        dice_ce_loss()(model(x), y).backward()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", default="unet,swinunetr,voxshield")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    device = f"{cpu_model()}, torch {torch.__version__}"
    report: dict = {"device": device, "volume": SIZE, "steps": {}}
    rows = []
    for step in args.steps.split(","):
        steps = voxshield_steps() if step == "voxshield" else victim_steps(step)
        times = time_variants(steps, args.rounds)
        eager = times["eager (harness)"]
        for name, t in times.items():
            t["ratio_to_eager"] = t["median_s"] / eager["median_s"]
            t["first_result_diff"] = abs(t["first_result"] - eager["first_result"])
            t["last_result_rel_diff"] = (abs(t["last_result"] - eager["last_result"])
                                         / abs(eager["last_result"]))
            saved = eager["median_s"] - t["median_s"]
            extra = t["first_call_s"] - eager["first_call_s"]
            t["break_even_steps"] = extra / saved if saved > 0 and extra > 0 else None
            rows.append((step, name, f"{t['median_s'] * 1e3:.0f}", f"{t['ratio_to_eager']:.3f}",
                         f"{t['first_result_diff']:.2e}", f"{t['last_result_rel_diff']:.2e}",
                         f"{t['first_call_s']:.1f}",
                         "" if t["break_even_steps"] is None else f"{t['break_even_steps']:.0f}"))
        report["steps"][step] = times
        print(tabulate(rows[-len(times):], ["step", "variant", "ms (median)", "x eager",
                                            "|first result - eager's|",
                                            f"last result's rel. diff ({args.rounds + 2} steps)",
                                            "first call s",
                                            "steps to win back"]), flush=True)
    flops = unet_step_flops()
    limits = {}
    for threads in (1, 2):
        peak = peak_conv3d_flops(threads)
        limit_s = flops / peak
        limits[threads] = {"peak_flops": peak, "limit_s": limit_s}
    measured = {1: report["steps"].get("unet", {}).get("eager (harness)", {}).get("median_s"),
                2: report["steps"].get("unet", {}).get("2 threads", {}).get("median_s")}
    lim_rows = []
    for threads, lim in limits.items():
        ratio = None if measured[threads] is None else measured[threads] / lim["limit_s"]
        lim["measured_over_limit"] = ratio
        lim_rows.append((threads, f"{lim['peak_flops'] / 1e9:.1f}", f"{lim['limit_s'] * 1e3:.0f}",
                         "" if ratio is None else f"{ratio:.2f}"))
    report["unet_step_flops"] = flops
    report["limits"] = limits
    print(f"\nunet train step at {SIZE}^3: {flops / 1e9:.1f} GFLOP (forward + backward)")
    print(tabulate(lim_rows, ["threads", "peak conv3d GFLOP/s", "limit ms", "measured / limit"]))
    print(f"device: {device}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
