"""Several seeds' victims trained as one batched model (issue 32, "the cost"), against the
harness's one training per seed (``uebench.runner.training.train_segmenter``), on the cube grid:

each seed keeps what its own training would have (initial weights built after
``seed_everything(seed)``, its augmentation stream, its case order, DiceCE, Adam at the
preset's lr); the parameters are stacked (``torch.func.stack_module_state``), the forward is
vmapped over the models (each model its own batch), the loss is each model's DiceCE summed, and
one Adam steps the stacked parameters (element-wise: each model's update is its own). vmap runs
each convolution as one grouped convolution, which torch sends to oneDNN; one model at batch 1
goes to torch's native ``slow_conv3d`` (its heuristic keeps oneDNN for batch > 1, groups > 1
or large planes), so the two differ in rounding, and training amplifies that: the clean test
DSCs are compared here, seed by seed.

    python -m benchmarks.stacked_training [--preset quick] [--seeds 0,1] [--json OUT]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.utils import convert_to_tensor
from torch.func import functional_call, stack_module_state

from benchmarks.profile_run import host
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import victims
from uebench.runner.training import (
    dice_ce_loss,
    intensity_augmentation,
    seed_everything,
    train_segmenter,
)


def build(victim: str, seed: int, in_channels: int, n_classes: int, preset) -> torch.nn.Module:
    """The victim's initial weights as the pipeline draws them for ``seed``."""
    seed_everything(seed)
    return victims.get(victim)().build(in_channels, n_classes, preset)


def train_stacked(models: list[torch.nn.Module], seeds: list[int], images: np.ndarray,
                  labels: np.ndarray, preset) -> dict[str, Any]:
    """Train ``models`` (one per seed) as one vmapped model on whole volumes ``images [N, C,
    ...]``, ``labels [N, ...]``; the models end with their trained weights. Returns the mean
    loss per epoch and model."""
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    forward = torch.func.vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))
    loss_fn = dice_ce_loss()
    optimiser = torch.optim.Adam(params.values(), lr=preset.lr, weight_decay=preset.weight_decay)
    augments = [intensity_augmentation(s) for s in seeds]
    orders = [np.random.default_rng(s) for s in seeds]
    x_all = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y_all = torch.from_numpy(np.ascontiguousarray(labels)).long().unsqueeze(1)
    losses = []
    for _ in range(preset.epochs):
        perms = [rng.permutation(len(x_all)) for rng in orders]
        totals = np.zeros(len(models))
        for first in range(0, len(x_all), preset.batch_size):
            batches = [p[first : first + preset.batch_size] for p in perms]
            xs = torch.stack([torch.stack([convert_to_tensor(aug(x_all[i]), track_meta=False)
                                           for i in batch])
                              for aug, batch in zip(augments, batches)])
            ys = torch.stack([y_all[batch] for batch in batches])
            optimiser.zero_grad(set_to_none=True)
            out = forward(params, buffers, xs)
            each = [loss_fn(out[m], ys[m]) for m in range(len(models))]
            torch.stack(each).sum().backward()
            optimiser.step()
            totals += [v.item() * len(b) for v, b in zip(each, batches)]
        losses.append((totals / len(x_all)).tolist())
    with torch.no_grad():
        for m, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][m])
    return {"losses": losses}


def compare(preset_name: str, seeds: list[int], victim: str = "unet") -> dict[str, Any]:
    """Each seed trained alone (the harness) and all seeds as one stacked model, from the same
    initial weights; clean test DSC and CPU seconds of each."""
    from uebench.runner.data import load_cases, preset_split, resolve_dataset
    from uebench.runner.evaluation import evaluate
    from uebench.runner.store import StageCache, default_cache_root

    preset = get_preset(preset_name)
    dataset = resolve_dataset("brats-mni")
    split = preset_split(load_cases(dataset, preset, StageCache(default_cache_root())), preset)
    images = np.stack([c.image for c in split.train])
    labels = np.stack([c.label for c in split.train])
    channels, cpu = len(images[0]), torch.device("cpu")
    out: dict[str, Any] = {"preset": preset_name, "victim": victim, "seeds": seeds}
    start = time.process_time()
    stacked = [build(victim, s, channels, dataset.n_classes, preset) for s in seeds]
    result = train_stacked(stacked, seeds, images, labels, preset)
    out["stacked_cpu_s"] = time.process_time() - start
    out["stacked"] = [{"seed": s, "final_loss": result["losses"][-1][m],
                       "clean_dsc": evaluate(model, split.test, dataset, preset, cpu)[
                           "dsc_fg_mean"]} for m, (s, model) in enumerate(zip(seeds, stacked))]
    out["separate"], out["separate_cpu_s"] = [], 0.0
    for s in seeds:
        start = time.process_time()
        model = build(victim, s, channels, dataset.n_classes, preset)
        trained = train_segmenter(model, images, labels, preset, s, cpu, progress=False)
        out["separate_cpu_s"] += time.process_time() - start
        out["separate"].append({"seed": s, "final_loss": trained["losses"][-1],
                                "clean_dsc": evaluate(model, split.test, dataset, preset, cpu)[
                                    "dsc_fg_mean"]})
    out["ratio_stacked_to_separate"] = out["stacked_cpu_s"] / out["separate_cpu_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--epochs", type=int, help="override the preset's (a shorter check)")
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.epochs:
        from uebench.contracts import registry
        base = get_preset(args.preset)
        registry.register_preset(replace(base, name=f"{base.name}-e{args.epochs}",
                                         epochs=args.epochs), summary="stacked_training check")
        args.preset = f"{base.name}-e{args.epochs}"
    out = compare(args.preset, [int(s) for s in args.seeds.split(",")])
    out["host"] = host()
    for kind in ("separate", "stacked"):
        for row in out[kind]:
            print(f"{kind:9s} seed {row['seed']}: clean DSC {row['clean_dsc']:.4f}, final loss "
                  f"{row['final_loss']:.4f}")
    print(f"CPU s: separate {out['separate_cpu_s']:.0f}, stacked {out['stacked_cpu_s']:.0f} "
          f"(ratio {out['ratio_stacked_to_separate']:.3f}); host {out['host']}, 1 thread")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
