"""What a quick run's victim could cost less by (issue 32, "the cost"), each candidate timed side
by side with today's way as ratios (interleaved rounds, medians, one torch thread as sweep
workers run), with the difference it makes to results. Builds on ``benchmarks/cpu_speedups.py``
(channels-last, compile's step time, threads), which it does not repeat:

- ``allocator``: glibc keeping freed memory (``uebench.runner.allocator``) against its default,
  in alternating worker processes (an allocator is a process's setting): step time, system
  time, page faults, and the results after the same steps (bit-for-bit or not), for each
  ``--workload`` (``unet``, ``swinunetr``: a train step; ``voxshield``: an N-step + S-step);
- ``batch``: quick's unet step at batch 1, 2 and 4, time per case;
- ``backend``: quick's unet step at batch 1 with its convolutions in oneDNN (a zero case
  appended) against today's native ``slow_conv3d`` path, and the same for one inference;
- ``padded``: quick's clean unet trained and evaluated both ways (10 epochs, seed 0): DSC;
- ``vmap``: several seeds' unets as one batched model (``torch.func.stack_module_state`` +
  ``vmap``; the loss per model outside it) against one step per model, and the losses after
  the same steps against the separate models';
- ``compile``: ``torch.compile``'s first call in a fresh process with an empty inductor cache
  (``TORCHINDUCTOR_CACHE_DIR``) and in a second process on the cache the first left;
- ``eval``: one clean-test evaluation (``uebench.runner.evaluation.evaluate``) at quick and
  canary, split into prediction, DSC + HD95 and NSD, against one training epoch; and the DSC
  alone (``evaluation.dsc_only``, what a per-epoch curve needs) against it;
- ``train``: quick's clean unet trained at batch 1, 2 and 4 (a preset change, so results
  differ: reported, not adopted), its clean test DSC and seconds, and the victim's voxels per
  second times the calibration workload's seconds (as records keep them, so it compares with
  the committed protocol-3 records).

    python -m benchmarks.cost_ratios [--sections allocator,batch,vmap,compile,eval,train]
        [--rounds 5] [--json leaderboards/cost/ratios.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate

from benchmarks.profile_run import host
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import victims
from uebench.runner import allocator, calibration
from uebench.runner.training import dice_ce_loss

SIZE = 64


def unet(seed: int, preset: str = "quick") -> torch.nn.Module:
    torch.manual_seed(seed)
    return victims.get("unet")().build(4, 4, get_preset(preset))


def batch_data(batch: int, size: int = SIZE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 4, size, size, size, generator=g),
            torch.randint(0, 4, (batch, 1, size, size, size), generator=g))


class Step:
    """A victim train step (DiceCE, Adam at quick's lr) on a fixed batch."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.x, self.y = model, x, y
        self.optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        self.loss_fn = dice_ce_loss()

    def __call__(self) -> float:
        self.optimiser.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.optimiser.step()
        return loss.item()


def interleave(fns: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1
               ) -> dict[str, dict[str, Any]]:
    """Median CPU seconds of this process per call (``median_s``: user + system, what a
    one-thread worker pays, and what other load on a shared machine leaves alone) and median
    wall seconds (``median_wall_s``) over ``rounds`` interleaved rounds (after ``warmup``
    calls each), and each function's last result."""
    out = {name: {"samples": [], "wall": []} for name in fns}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            out[name]["last"] = fn()
            out[name]["samples"].append(time.process_time() - cpu)
            out[name]["wall"].append(time.perf_counter() - wall)
    for row in out.values():
        row["median_s"] = statistics.median(row.pop("samples"))
        row["median_wall_s"] = statistics.median(row.pop("wall"))
    return out


# -- allocator: one worker process per sample ----------------------------------------------

def _workload(name: str, size: int) -> Callable[[], float]:
    """A victim's train step at batch 1 (``unet``, ``swinunetr``), or VoxShield's N-step and
    S-step at quick's batch (``voxshield``, ``benchmarks/voxshield_steps.py``)."""
    if name == "voxshield":
        from benchmarks.voxshield_steps import make_bench, n_step, s_step
        bench = make_bench("cpu", size, 2, preset="quick")

        def step() -> float:
            n_step(bench)
            s_step(bench)
            return float(bench.method.stored.abs().sum())
        return step
    torch.manual_seed(0)
    model = victims.get(name)().build(4, 4, get_preset("quick"))
    return Step(model, *batch_data(1, size))


def allocator_worker(mode: str, steps: int, size: int, workload: str = "unet",
                     threads: int = 1) -> dict[str, Any]:
    """``steps`` steps of ``workload`` after one warm-up, in this process, under ``mode``."""
    applied = allocator.retain_freed_memory() if mode == "retain" else False
    torch.set_num_threads(threads)
    step = _workload(workload, size)
    step()
    times, walls, losses = [], [], []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        losses.append(step())
        times.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"mode": mode, "applied": applied, "median_s": statistics.median(times),
            "median_wall_s": statistics.median(walls),
            "user_s_per_step": (r1.ru_utime - r0.ru_utime) / steps,
            "sys_s_per_step": (r1.ru_stime - r0.ru_stime) / steps,
            "minor_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / steps,
            "losses": [float(v).hex() for v in losses],
            "calibration_s": calibration.calibration_seconds()}


def section_allocator(rounds: int, size: int = SIZE, steps: int = 4, workload: str = "unet",
                      threads: int = 1) -> dict[str, Any]:
    runs: dict[str, list[dict]] = {"default": [], "retain": []}
    for _ in range(rounds):
        for mode in runs:
            out = subprocess.run([sys.executable, "-m", "benchmarks.cost_ratios",
                                  "--allocator-worker", mode, "--size", str(size),
                                  "--steps", str(steps), "--workload", workload,
                                  "--worker-threads", str(threads)],
                                 capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary: dict[str, Any] = {}
    for mode, rows in runs.items():
        summary[mode] = {k: statistics.median(r[k] for r in rows)
                         for k in ("median_s", "median_wall_s", "user_s_per_step",
                                   "sys_s_per_step", "minor_faults_per_step", "calibration_s")}
        summary[mode]["applied"] = rows[0]["applied"]
    summary["ratio_retain_to_default"] = (summary["retain"]["median_s"]
                                          / summary["default"]["median_s"])
    summary["losses_bitwise_equal"] = all(
        a["losses"] == b["losses"] for a, b in zip(runs["default"], runs["retain"]))
    summary["workload"] = workload
    summary["threads"] = threads
    summary["worker_processes_per_mode"] = rounds
    summary["steps_per_worker"] = steps
    print(tabulate([(m, f"{summary[m]['median_s'] * 1e3:.0f}",
                     f"{summary[m]['median_wall_s'] * 1e3:.0f}",
                     f"{summary[m]['user_s_per_step'] * 1e3:.0f}",
                     f"{summary[m]['sys_s_per_step'] * 1e3:.0f}",
                     f"{summary[m]['minor_faults_per_step'] / 1e3:.0f}",
                     f"{summary[m]['calibration_s'] * 1e3:.1f}") for m in ("default", "retain")],
                   [f"{workload} ({threads} thread(s)): allocator", "step CPU ms",
                    "step wall ms", "user ms", "sys ms", "minor faults (k)", "calibration ms"]))
    print(f"retain / default step CPU time: {summary['ratio_retain_to_default']:.3f}; results "
          f"bit-for-bit equal: {summary['losses_bitwise_equal']}")
    return summary


# -- batch size -------------------------------------------------------------------------------

def section_batch(rounds: int, size: int = SIZE) -> dict[str, Any]:
    steps = {f"batch {b}": Step(unet(0), *batch_data(b, size)) for b in (1, 2, 4)}
    times = interleave(steps, rounds)
    base = times["batch 1"]["median_s"]
    out = {}
    for name, t in times.items():
        b = int(name.split()[1])
        out[name] = {"step_s": t["median_s"], "step_wall_s": t["median_wall_s"],
                     "per_case_s": t["median_s"] / b,
                     "per_case_ratio_to_batch1": t["median_s"] / b / base}
    print(tabulate([(k, f"{v['step_s'] * 1e3:.0f}", f"{v['per_case_s'] * 1e3:.0f}",
                     f"{v['per_case_ratio_to_batch1']:.3f}") for k, v in out.items()],
                   ["unet step", "CPU ms / step", "CPU ms / case", "per case / batch 1's"]))
    return out


# -- the convolution backend at batch 1 -------------------------------------------------------

class PaddedStep(Step):
    """The batch-1 step with a zero case appended, so that torch runs every convolution in
    oneDNN (its heuristic sends batch 1 with small planes to the native ``slow_conv3d``); the
    loss is the real case's, so the zero case adds nothing to any gradient (instance norm
    normalises each case alone)."""

    def __call__(self) -> float:
        self.optimiser.zero_grad(set_to_none=True)
        out = self.model(torch.cat([self.x, torch.zeros_like(self.x)]))[: len(self.x)]
        loss = self.loss_fn(out, self.y)
        loss.backward()
        self.optimiser.step()
        return loss.item()


def section_backend(rounds: int, size: int = SIZE, victim: str = "unet") -> dict[str, Any]:
    """Quick's ``victim`` at batch 1: today's step (native convolutions) against the same step
    run in oneDNN (a zero case appended), CPU time and the loss after the same updates; and one
    inference (``evaluation.predict``'s forward) both ways: logits and label flips."""
    x, y = batch_data(1, size)

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return victims.get(victim)().build(4, 4, get_preset("quick"))
    steps = {"batch 1, native conv (today)": Step(build(), x, y),
             "batch 1 in oneDNN (zero case appended)": PaddedStep(build(), x, y)}
    times = interleave(steps, rounds)
    today, onednn = times["batch 1, native conv (today)"], times[
        "batch 1 in oneDNN (zero case appended)"]
    model = steps["batch 1, native conv (today)"].model.eval()
    with torch.no_grad():
        native = model(x)
        padded = model(torch.cat([x, torch.zeros_like(x)]))[:1]
        forward = interleave({"native": lambda: model(x),
                              "oneDNN": lambda: model(torch.cat([x, torch.zeros_like(x)]))},
                             rounds)
    out = {"step_native_s": today["median_s"], "step_onednn_s": onednn["median_s"],
           "ratio_step": onednn["median_s"] / today["median_s"],
           "loss_rel_diff_after_updates": abs(onednn["last"] - today["last"]) / today["last"],
           "updates": rounds + 1,
           "forward_native_s": forward["native"]["median_s"],
           "forward_onednn_s": forward["oneDNN"]["median_s"],
           "ratio_forward": forward["oneDNN"]["median_s"] / forward["native"]["median_s"],
           "logits_max_abs_diff": float((native - padded).abs().max()),
           "label_flip_fraction": float((native.argmax(1) != padded.argmax(1)).float().mean())}
    print(f"{victim} train step at batch 1, CPU ms: native {today['median_s'] * 1e3:.0f}, oneDNN "
          f"{onednn['median_s'] * 1e3:.0f} (ratio {out['ratio_step']:.3f}); loss after "
          f"{rounds + 1} updates differs by {out['loss_rel_diff_after_updates']:.1e} (relative)")
    print(f"inference forward, CPU ms: native {out['forward_native_s'] * 1e3:.0f}, oneDNN "
          f"{out['forward_onednn_s'] * 1e3:.0f} (ratio {out['ratio_forward']:.3f}); logits "
          f"differ by {out['logits_max_abs_diff']:.1e} at most, labels flip at "
          f"{out['label_flip_fraction']:.1e} of voxels")
    return out


class OneDNN(torch.nn.Module):
    """``model`` with a batch of one run as a batch of two (a zero case appended, its output
    dropped): the same function, its convolutions in oneDNN."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) != 1:
            return self.model(x)
        return self.model(torch.cat([x, torch.zeros_like(x)]))[:1]


def section_padded(seed: int = 0) -> dict[str, Any]:
    """Quick's clean unet trained with today's batch-1 steps and with the same steps in oneDNN
    (``OneDNN``), from the same weights, each evaluated both ways: the clean test DSC each gives
    and the CPU seconds each takes."""
    from uebench.runner import evaluation
    from uebench.runner.data import load_cases, preset_split, resolve_dataset
    from uebench.runner.store import StageCache, default_cache_root
    from uebench.runner.training import seed_everything, train_segmenter

    preset, dataset = get_preset("quick"), resolve_dataset("brats-mni")
    split = preset_split(load_cases(dataset, preset, StageCache(default_cache_root())), preset)
    images = np.stack([c.image for c in split.train])
    labels = np.stack([c.label for c in split.train])
    cpu = torch.device("cpu")
    out: dict[str, Any] = {"seed": seed}
    for name, wrap in (("native (today)", lambda m: m), ("oneDNN", OneDNN)):
        seed_everything(seed)
        model = victims.get("unet")().build(len(images[0]), dataset.n_classes, preset)
        start = time.process_time()
        train_segmenter(wrap(model), images, labels, preset, seed, cpu, progress=False)
        row = {"train_cpu_s": time.process_time() - start}
        for eval_name, eval_wrap in (("native", lambda m: m), ("oneDNN", OneDNN)):
            start = time.process_time()
            row[f"dsc_eval_{eval_name}"] = evaluation.evaluate(
                eval_wrap(model), split.test, dataset, preset, cpu)["dsc_fg_mean"]
            row[f"eval_{eval_name}_cpu_s"] = time.process_time() - start
        out[name] = row
        print(f"trained {name}: {row['train_cpu_s']:.0f} CPU s; clean DSC evaluated native "
              f"{row['dsc_eval_native']:.6f} ({row['eval_native_cpu_s']:.1f} CPU s), oneDNN "
              f"{row['dsc_eval_oneDNN']:.6f} ({row['eval_oneDNN_cpu_s']:.1f} CPU s)", flush=True)
    return out


# -- several seeds as one batched model ------------------------------------------------------

class StackedSteps:
    """``k`` unets (seeds 0..k-1) as one model: parameters stacked, the forward vmapped over
    the models (each its own batch), DiceCE per model outside vmap, the summed loss's backward,
    one Adam over the stacked parameters (element-wise, so each model's update is its own)."""

    def __init__(self, models: list[torch.nn.Module], xs: torch.Tensor, ys: torch.Tensor
                 ) -> None:
        from torch.func import functional_call, stack_module_state
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        base = copy.deepcopy(models[0]).to("meta")

        def one(p, b, x):
            return functional_call(base, (p, b), (x,))
        self.forward = torch.func.vmap(one)
        self.xs, self.ys = xs, ys  # [k, B, ...]
        self.optimiser = torch.optim.Adam(self.params.values(), lr=2e-3)
        self.loss_fn = dice_ce_loss()

    def __call__(self) -> list[float]:
        self.optimiser.zero_grad(set_to_none=True)
        out = self.forward(self.params, self.buffers, self.xs)
        losses = [self.loss_fn(out[i], self.ys[i]) for i in range(len(out))]
        torch.stack(losses).sum().backward()
        self.optimiser.step()
        return [v.item() for v in losses]


def section_vmap(rounds: int, size: int = SIZE, k: int = 2, victim: str = "unet"
                 ) -> dict[str, Any]:
    def build(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return victims.get(victim)().build(4, 4, get_preset("quick"))
    models = [build(seed) for seed in range(k)]
    data = [batch_data(1, size, seed) for seed in range(k)]
    separate = [Step(copy.deepcopy(m), x, y) for m, (x, y) in zip(models, data)]
    stacked = StackedSteps([copy.deepcopy(m) for m in models],
                           torch.stack([x for x, _ in data]), torch.stack([y for _, y in data]))
    fns = {f"{k} separate steps": lambda: [s() for s in separate],
           f"{k} models vmapped": stacked}
    times = interleave(fns, rounds)
    sep, vm = times[f"{k} separate steps"], times[f"{k} models vmapped"]
    diff = max(abs(a - b) / abs(a) for a, b in zip(sep["last"], vm["last"]))
    out = {"victim": victim, "models": k,
           "separate_s": sep["median_s"], "vmapped_s": vm["median_s"],
           "separate_wall_s": sep["median_wall_s"], "vmapped_wall_s": vm["median_wall_s"],
           "ratio_vmapped_to_separate": vm["median_s"] / sep["median_s"],
           "updates": rounds + 1, "last_losses_separate": sep["last"],
           "last_losses_vmapped": vm["last"], "last_loss_max_rel_diff": diff}
    print(f"{k} {victim}s at {size}^3, batch 1 each, CPU: separate {sep['median_s'] * 1e3:.0f} ms, "
          f"vmapped {vm['median_s'] * 1e3:.0f} ms (ratio {out['ratio_vmapped_to_separate']:.3f}); "
          f"losses after {rounds + 1} updates differ by {diff:.1e} (relative, max)")
    return out


# -- torch.compile with a persistent inductor cache ------------------------------------------

def compile_worker(victim: str, size: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = victims.get(victim)().build(4, 4, get_preset("quick"))
    eager = copy.deepcopy(model)
    x, y = batch_data(1, size)
    compiled = Step(torch.compile(model), x, y)
    start = time.perf_counter()
    first = compiled()
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled()
    second_s = time.perf_counter() - start
    reference = Step(eager, x, y)()
    return {"first_call_s": first_s, "second_call_s": second_s, "first_loss": first,
            "eager_first_loss": reference}


def section_compile(victims_: list[str], size: int = SIZE) -> dict[str, Any]:
    out = {}
    for victim in victims_:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache,
                   "TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
            rows = []
            for label in ("empty cache (first process)", "warm cache (second process)"):
                start = time.perf_counter()
                res = subprocess.run([sys.executable, "-m", "benchmarks.cost_ratios",
                                      "--compile-worker", victim, "--size", str(size)],
                                     capture_output=True, text=True, check=True, env=env)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                row["process_s"] = time.perf_counter() - start
                row["cache"] = label
                rows.append(row)
        out[victim] = rows
        print(tabulate([(victim, r["cache"], f"{r['first_call_s']:.1f}",
                         f"{r['second_call_s']:.2f}", f"{r['process_s']:.1f}",
                         f"{abs(r['first_loss'] - r['eager_first_loss']):.1e}") for r in rows],
                       ["victim", "inductor cache", "first call s (compile)", "next step s",
                        "process s", "|loss - eager's|"]))
    return out


# -- evaluation cost --------------------------------------------------------------------------

def _trained(preset_name: str, seed: int, batch: int | None = None
             ) -> tuple[torch.nn.Module, dict[str, Any], Any, Any]:
    """The clean unet of ``preset_name`` (batch ``batch`` if given), trained as the pipeline
    trains it, with the split it was trained and is evaluated on."""
    from uebench.runner.data import load_cases, preset_split, resolve_dataset
    from uebench.runner.store import StageCache, default_cache_root
    from uebench.runner.training import seed_everything, train_segmenter

    preset = get_preset(preset_name)
    if batch is not None:
        preset = replace(preset, batch_size=batch)
    dataset = resolve_dataset("brats-mni")
    split = preset_split(load_cases(dataset, preset, StageCache(default_cache_root())), preset)
    seed_everything(seed)
    model = victims.get("unet")().build(len(split.train[0].image), dataset.n_classes, preset)
    images = np.stack([c.image for c in split.train])
    labels = np.stack([c.label for c in split.train])
    start, cpu = time.perf_counter(), time.process_time()
    result = train_segmenter(model, images, labels, preset, seed, torch.device("cpu"),
                             progress=False)
    result["train_wall_s"] = time.perf_counter() - start
    result["train_cpu_s"] = time.process_time() - cpu
    result["cpu_per_epoch_s"] = result["train_cpu_s"] / preset.epochs
    result["voxels"] = len(images) * images[0, 0].size * preset.epochs
    return model, result, split, (dataset, preset)


def time_evaluation(model: torch.nn.Module, split: Any, dataset: Any, preset: Any,
                    rounds: int) -> dict[str, Any]:
    """One full evaluation and one DSC-only pass on the clean test split, interleaved."""
    from uebench.runner import evaluation

    parts = {"predict": 0.0, "overlap_scores": 0.0, "surface_dice": 0.0}
    originals = {name: getattr(evaluation, name) for name in parts}

    def timed(name):
        def call(*args, **kwargs):
            start = time.process_time()
            try:
                return originals[name](*args, **kwargs)
            finally:
                parts[name] += time.process_time() - start
        return call

    device = torch.device("cpu")
    results: dict[str, Any] = {}
    per_call: list[dict[str, float]] = []

    def full():
        for name in parts:
            parts[name] = 0.0
            setattr(evaluation, name, timed(name))
        try:
            results["full"] = evaluation.evaluate(model, split.test, dataset, preset, device)
        finally:
            for name, fn in originals.items():
                setattr(evaluation, name, fn)
        per_call.append(dict(parts))

    def dsc():
        results["dsc"] = evaluation.dsc_only(model, split.test, dataset, preset, device)

    times = interleave({"evaluate": full, "dsc_only": dsc}, rounds, warmup=1)
    timed_calls = per_call[1:]  # after the warm-up
    return {"cases": len(split.test), "evaluate_s": times["evaluate"]["median_s"],
            "dsc_only_s": times["dsc_only"]["median_s"],
            "evaluate_parts_median_s": {k: statistics.median(c[k] for c in timed_calls)
                                        for k in parts},
            "dsc_fg_mean_evaluate": results["full"]["dsc_fg_mean"],
            "dsc_fg_mean_dsc_only": results["dsc"]["dsc_fg_mean"]}


def section_eval(rounds: int, trained: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for preset_name in ("quick", "canary"):
        if preset_name not in trained:
            trained[preset_name] = _trained(preset_name, 0)
        model, result, split, (dataset, preset) = trained[preset_name]
        row = time_evaluation(model, split, dataset, preset, rounds)
        row["epoch_s"] = result["cpu_per_epoch_s"]
        row["evaluate_in_epochs"] = row["evaluate_s"] / row["epoch_s"]
        row["dsc_only_in_epochs"] = row["dsc_only_s"] / row["epoch_s"]
        row["epochs"] = preset.epochs
        out[preset_name] = row
    print(tabulate([(p, r["cases"], f"{r['evaluate_s']:.2f}",
                     ", ".join(f"{k} {v:.2f}" for k, v in r["evaluate_parts_median_s"].items()),
                     f"{r['dsc_only_s']:.2f}", f"{r['epoch_s']:.2f}",
                     f"{r['evaluate_in_epochs']:.2f}", f"{r['dsc_only_in_epochs']:.2f}",
                     f"{r['dsc_fg_mean_evaluate']:.6f} / {r['dsc_fg_mean_dsc_only']:.6f}")
                    for p, r in out.items()],
                   ["preset", "test cases", "evaluate CPU s", "of which (s)", "DSC only s",
                    "epoch CPU s", "evaluate / epoch", "DSC only / epoch",
                    "DSC (evaluate / only)"]))
    return out


# -- batch size in a whole training -----------------------------------------------------------

def section_train(seeds: list[int], batches: list[int], trained: dict[str, Any]
                  ) -> dict[str, Any]:
    from uebench.runner import evaluation

    cal = calibration.calibration_seconds()
    cal_cpu = calibration_cpu_seconds()
    out: dict[str, Any] = {"calibration_s": cal, "calibration_cpu_s": cal_cpu, "runs": []}
    for seed in seeds:
        for batch in batches:
            model, result, split, (dataset, preset) = _trained("quick", seed, batch)
            if seed == 0 and batch == 1:
                trained["quick"] = (model, result, split, (dataset, preset))
            score = evaluation.evaluate(model, split.test, dataset, preset,
                                        torch.device("cpu"))["dsc_fg_mean"]
            row = {"seed": seed, "batch": batch, "clean_dsc": score,
                   "train_wall_s": result["train_wall_s"],
                   "train_cpu_s": result["train_cpu_s"],
                   "voxels_per_cpu_second": result["voxels"] / result["train_cpu_s"],
                   "voxels_per_cpu_second_x_calibration_cpu": result["voxels"]
                   / result["train_cpu_s"] * cal_cpu,
                   "seconds_per_epoch": result["seconds_per_epoch"],
                   "voxels_per_second": result["voxels_per_second"],
                   "voxels_per_calibration": result["voxels_per_second"] * cal,
                   "final_loss": result["losses"][-1]}
            out["runs"].append(row)
            print(f"seed {seed} batch {batch}: clean DSC {score:.4f}, final loss "
                  f"{row['final_loss']:.4f}, {result['train_cpu_s']:.0f} CPU s "
                  f"({result['train_wall_s']:.0f} s wall), "
                  f"{row['voxels_per_cpu_second']:.0f} vox per CPU s (x calibration CPU s "
                  f"{row['voxels_per_cpu_second_x_calibration_cpu']:.0f}); as records keep it "
                  f"(wall): {result['voxels_per_second']:.0f} vox/s, x calibration "
                  f"{row['voxels_per_calibration']:.0f}", flush=True)
    return out


def calibration_cpu_seconds(repeats: int = 9) -> float:
    """The calibration workload (``uebench.runner.calibration``) timed in CPU seconds of this
    process, median of ``repeats`` after a warm-up: on a shared machine, the wall-clock figure
    records keep also holds other processes' turns."""
    generator = torch.Generator().manual_seed(calibration.SEED)
    x = torch.rand(calibration.SHAPE, generator=generator).requires_grad_(True)
    weights = [(torch.randn(c_out, c_in, 3, 3, 3, generator=generator) / (27 * c_in) ** 0.5)
               .requires_grad_(True)
               for c_in, c_out in zip(calibration.CHANNELS[:-1], calibration.CHANNELS[1:])]
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        calibration._workload(x, weights)
        times.append(time.process_time() - start)
    return statistics.median(times[1:])


def committed_victim_cost(records: Path = Path("leaderboards/archive/protocol-3/cpu/records")
                          ) -> dict[str, Any]:
    """Voxels per second x calibration seconds of the committed protocol-3 quick unet
    trainings."""
    values = []
    for path in sorted(records.glob("*-unet-*.json")):
        record = json.loads(path.read_text())
        if record.get("preset", {}).get("name") != "quick":
            continue
        cal = record.get("throughput", {}).get("protect", {}).get("calibration_seconds")
        for role in ("clean", "protected"):
            vps = (record.get("throughput", {}).get("victim_training", {}).get(role, {})
                   .get("voxels_per_second"))
            if cal and vps:
                values.append(vps * cal)
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values),
            "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="allocator,batch,vmap,compile,eval,train")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--batches", default="1,2,4")
    parser.add_argument("--compile-victims", default="unet")
    parser.add_argument("--backend-victims", default="unet")
    parser.add_argument("--vmap-victims", default="unet")
    parser.add_argument("--worker-threads", type=int, default=1,
                        help="torch threads of the allocator section's workers")
    parser.add_argument("--allocator", choices=("default", "retain"), default="default",
                        help="this process's allocator (the allocator section spawns both)")
    parser.add_argument("--allocator-worker", choices=("default", "retain"))
    parser.add_argument("--compile-worker")
    parser.add_argument("--workload", default="unet",
                        help="the allocator section's step: unet, swinunetr or voxshield")
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args()
    if args.allocator_worker:
        print(json.dumps(allocator_worker(args.allocator_worker, args.steps, args.size,
                                          args.workload, args.worker_threads)))
        return
    if args.compile_worker:
        print(json.dumps(compile_worker(args.compile_worker, args.size)))
        return
    if args.allocator == "retain":
        allocator.retain_freed_memory()
    torch.set_num_threads(1)
    report: dict[str, Any] = {"host": host(), "threads": 1, "allocator": args.allocator,
                              "size": args.size, "rounds": args.rounds,
                              "load_average_at_start": os.getloadavg()}
    trained: dict[str, Any] = {}
    sections = args.sections.split(",")
    for section in sections:
        print(f"\n== {section}", flush=True)
        if section == "allocator":
            report[section] = {w: section_allocator(args.rounds, args.size, args.steps, w,
                                                    args.worker_threads)
                               for w in args.workload.split(",")}
        elif section == "batch":
            report[section] = section_batch(args.rounds, args.size)
        elif section == "backend":
            report[section] = {v: section_backend(args.rounds, args.size, v)
                               for v in args.backend_victims.split(",")}
            report[section]["calibration_cpu_s"] = calibration_cpu_seconds()
        elif section == "padded":
            report[section] = section_padded()
        elif section == "vmap":
            report[section] = {v: section_vmap(args.rounds, args.size, victim=v)
                               for v in args.vmap_victims.split(",")}
        elif section == "compile":
            report[section] = section_compile(args.compile_victims.split(","), args.size)
        elif section == "train":
            report[section] = section_train([int(s) for s in args.seeds.split(",")],
                                            [int(b) for b in args.batches.split(",")], trained)
            report[section]["committed_records"] = committed_victim_cost()
            print(f"committed quick unet trainings, voxels/s x calibration s: "
                  f"{report[section]['committed_records']}")
        elif section == "eval":
            report[section] = section_eval(args.rounds, trained)
        else:
            raise SystemExit(f"unknown section {section!r}")
        if args.json_out:  # after every section: a long run keeps what it measured
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(report, indent=1, default=float))
    report["load_average_at_end"] = os.getloadavg()
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1, default=float))
    print(f"\nhost: {report['host']}, 1 torch thread, allocator {args.allocator}; load "
          f"average {report['load_average_at_start'][0]:.1f} at start, "
          f"{report['load_average_at_end'][0]:.1f} at end (2 cores shared)")


if __name__ == "__main__":
    main()
