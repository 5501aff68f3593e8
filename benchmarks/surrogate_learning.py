"""Why does VoxShield's surrogate learn the task so much more slowly than EM's at the same number
of updates? Controlled runs: one surrogate, trained by ``Surrogate.train`` (the S-step every
method takes: random batches with replacement), on one kind of data at a time, its train
foreground DSC on the data it trains on measured every ``--every`` updates.

Conditions (``--condition``, default all), each on the preset's training split of brats-mni:
- ``vs-clean``: VoxShield's surrogate settings (its ``default_params``: ReLU, weight decay 5e-4,
  lr, batch, channels) on clean data;
- ``vs-prelu``, ``vs-wd0``, ``vs-lr/4``, ``vs-lr*4``, ``vs-batch8``: the same with one setting
  changed (EM's activation is PReLU and its weight decay 0);
- ``em-clean``: EM's surrogate settings on clean data;
- ``vs-random-roi``: VoxShield's settings on x + random-roi noise of the budget (fixed);
- ``vs-em-noise``: VoxShield's settings on x + EM's final deltas (EM fitted first, fixed);
- ``vs-voxshield-noise``: VoxShield's settings on x + VoxShield's final deltas (fixed);
- ``voxshield-fit`` and ``em-fit``: the methods' own fits (the surrogate co-evolving with the
  noise), read from their ``history`` (fit_dsc raised above 1 so the cap alone stops them).

    python -m benchmarks.surrogate_learning --preset canary --seeds 0 1 2 --updates 1000 \
        --out leaderboards/surrogates/canary-4.json

Writes one JSON (resumable: finished (condition, seed) pairs are kept) and prints a table of
the updates each condition needed to reach DSC 0.5 and 0.9, and its DSC at 120 updates.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate

from uebench.contracts import registry
from uebench.contracts.core import Case, RunContext
from uebench.contracts.presets import get_preset
from uebench.kit.surrogates import Surrogate, case_tensors, parse_channels
from uebench.runner.data import load_cases, preset_split, resolve_dataset
from uebench.runner.store import StageCache, default_cache_root, read_json, write_json
from uebench.runner.training import seed_everything

MARKS = (0.5, 0.9)
AT = 120  # the shared cap of protocol 2 at quick and canary


@dataclass(frozen=True)
class Condition:
    """One controlled run: the surrogate's settings and the noise added to its data."""

    settings: str  # "voxshield" or "em": whose default surrogate settings
    noise: str = "none"  # none | random-roi | em | voxshield | fit
    overrides: dict[str, Any] = field(default_factory=dict)


CONDITIONS: dict[str, Condition] = {
    "vs-clean": Condition("voxshield"),
    "vs-prelu": Condition("voxshield", overrides={"act": "PRELU"}),
    "vs-wd0": Condition("voxshield", overrides={"weight_decay": 0.0}),
    "vs-lr/4": Condition("voxshield", overrides={"lr_factor": 0.25}),
    "vs-lr*4": Condition("voxshield", overrides={"lr_factor": 4.0}),
    "vs-batch8": Condition("voxshield", overrides={"batch_size": 8}),
    "em-clean": Condition("em"),
    "vs-random-roi": Condition("voxshield", noise="random-roi"),
    "vs-em-noise": Condition("voxshield", noise="em"),
    "vs-voxshield-noise": Condition("voxshield", noise="voxshield"),
    "voxshield-fit": Condition("voxshield", noise="fit"),
    "em-fit": Condition("em", noise="fit"),
}


def surrogate_settings(method: str, preset_name: str, overrides: dict[str, Any]
                       ) -> dict[str, Any]:
    """The surrogate's settings as ``method`` builds it under the preset, with overrides."""
    params = registry.methods.get(method).default_params(get_preset(preset_name))
    settings = {"channels": parse_channels(params["surrogate_channels"]),
                "lr": params["surrogate_lr"] * overrides.get("lr_factor", 1.0),
                "batch_size": overrides.get("batch_size", params["batch_size"]),
                # VoxShield builds its surrogate with ReLU and weight decay; EM with the
                # Surrogate's defaults (PReLU, no weight decay)
                "act": overrides.get("act", "RELU" if method == "voxshield" else "PRELU"),
                "weight_decay": overrides.get(
                    "weight_decay",
                    params.get("surrogate_weight_decay", 0.0) if method == "voxshield" else 0.0)}
    return settings


def fitted(method: str, epsilon: float, preset_name: str, train: list[Case], ctx: RunContext,
           updates: int, **params: Any):
    """``method`` fitted on ``train`` with its own schedule capped at ``updates``."""
    cls = registry.methods.get(method)
    instance = cls(epsilon, get_preset(preset_name), max_surrogate_updates=updates, **params)
    seed_everything(ctx.seed)
    instance.fit(train, ctx)
    return instance


def noise_deltas(noise: str, epsilon: float, preset_name: str, train: list[Case],
                 ctx: RunContext, updates: int) -> torch.Tensor | None:
    """The fixed deltas ``[N, C, D, H, W]`` the surrogate trains on (None: clean data)."""
    if noise == "none":
        return None
    if noise == "random-roi":
        method = registry.methods.get("random-roi")(epsilon, get_preset(preset_name))
        method.fit(train, ctx)
    else:
        method = fitted(noise, epsilon, preset_name, train, ctx, updates)
    return torch.from_numpy(np.stack([np.asarray(method.perturb(c, ctx), dtype=np.float32)
                                      for c in train]))


def train_curve(condition: Condition, epsilon: float, preset_name: str, train: list[Case],
                ctx: RunContext, updates: int, every: int) -> list[dict[str, float]]:
    """(updates, train foreground DSC) every ``every`` updates up to ``updates``."""
    if condition.noise == "fit":
        method = fitted(condition.settings, epsilon, preset_name, train, ctx, updates,
                        fit_dsc=2.0)
        per_iteration = method.params.get("s_steps") or method.params["surrogate_batches"]
        return [{"updates": (i + 1) * per_iteration, "dsc": row["surrogate_train_dsc"]}
                for i, row in enumerate(method.history)]
    deltas = noise_deltas(condition.noise, epsilon, preset_name, train, ctx, updates)
    s = surrogate_settings(condition.settings, preset_name, condition.overrides)
    seed_everything(ctx.seed)
    generator = torch.Generator().manual_seed(ctx.seed)
    images, labels = case_tensors(train, ctx.device)
    surrogate = Surrogate(3, ctx.in_channels, ctx.n_classes, s["channels"], s["lr"], ctx.device,
                          act=s["act"], weight_decay=s["weight_decay"])
    curve = []
    for done in range(every, updates + 1, every):
        surrogate.train(images, labels, deltas, every, s["batch_size"], generator)
        curve.append({"updates": done,
                      "dsc": surrogate.train_dice(images, labels, deltas, s["batch_size"])})
    return curve


def first_reaching(curve: list[dict[str, float]], mark: float) -> int | None:
    """The first logged update count whose DSC reaches ``mark`` (None: never)."""
    return next((row["updates"] for row in curve if row["dsc"] >= mark), None)


def at_updates(curve: list[dict[str, float]], updates: int) -> float | None:
    """The DSC logged at the last point at or before ``updates``."""
    rows = [row["dsc"] for row in curve if row["updates"] <= updates]
    return rows[-1] if rows else None


def summary(results: dict[str, Any]) -> str:
    """Per condition: updates to DSC 0.5 and 0.9 (per seed) and the DSC at 120 updates."""
    table = []
    for name, seeds in results["runs"].items():
        curves = [seeds[s]["curve"] for s in sorted(seeds)]
        row = {"condition": name, "seeds": len(curves)}
        for mark in MARKS:
            row[f"updates to {mark}"] = " / ".join(str(first_reaching(c, mark) or "-")
                                                   for c in curves)
        row[f"DSC at {AT}"] = " / ".join(f"{at_updates(c, AT) or 0:.2f}" for c in curves)
        row["DSC at end"] = " / ".join(f"{c[-1]['dsc']:.2f}" for c in curves)
        table.append(row)
    return tabulate(table, headers="keys")


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    preset = get_preset(args.preset)
    epsilon = float(Fraction(args.eps))
    dataset = resolve_dataset(args.dataset)
    cases = load_cases(dataset, preset, StageCache(default_cache_root()))
    train = preset_split(cases, preset).train
    out = Path(args.out)
    settings = {"preset": args.preset, "dataset": args.dataset, "epsilon": args.eps,
                "updates": args.updates, "every": args.every, "threads": torch.get_num_threads()}
    results = read_json(out) if out.exists() else {"settings": settings, "runs": {}}
    if results["settings"] != settings:
        raise SystemExit(f"{out} holds runs of other settings: {results['settings']}")
    for name in args.condition or list(CONDITIONS):
        for seed in args.seeds:
            if str(seed) in results["runs"].get(name, {}):
                continue
            ctx = RunContext(preset, seed, torch.device("cpu"), train[0].image.shape[0],
                             dataset.n_classes, progress=False)
            started = time.perf_counter()
            curve = train_curve(CONDITIONS[name], epsilon, args.preset, train, ctx,
                                args.updates, args.every)
            seconds = time.perf_counter() - started
            results["runs"].setdefault(name, {})[str(seed)] = {"curve": curve,
                                                                "seconds": seconds}
            write_json(out, results)
            log(f"{name} seed {seed}: DSC {curve[-1]['dsc']:.3f} after "
                f"{curve[-1]['updates']} updates ({seconds:.0f} s)")
    return results


def parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.surrogate_learning",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="canary")
    parser.add_argument("--dataset", default="brats-mni")
    parser.add_argument("--eps", default="4/255")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--condition", action="append", choices=list(CONDITIONS))
    parser.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    print(summary(run(parser().parse_args(argv))))


if __name__ == "__main__":
    main()
