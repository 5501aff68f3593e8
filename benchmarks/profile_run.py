"""Where one run's time goes (issue 32, "the cost"): one ``uebench run`` end to end (a fresh
stage cache, the dataset cache shared), with every part timed by wrapping the functions the
pipeline calls (nothing in ``uebench`` is changed):

- data (``load_cases``), case reads (``StoredCase`` decompressing one array), cache writes;
- the method's ``fit`` and ``perturb``, the budget's store/release, fidelity, the calibration;
- each victim stage: assembling the training set, the training loop split into augmentation
  and batching, forward, loss, backward and the optimiser (model hooks, a timed loss, the
  optimiser's global step hooks), and the evaluation split into sliding-window prediction,
  DSC + HD95 and NSD;

each part's exclusive CPU (user + system) and wall seconds and minor page faults
(``getrusage``), printed by CPU seconds: on a shared machine wall time also holds other
processes' turns.
Then ``--op-steps`` victim train steps (the training loop's own step: augmentation, DiceCE,
Adam) under ``torch.profiler``, their self CPU time grouped by phase and op kind.

    python -m benchmarks.profile_run [--method em] [--victim unet] [--preset quick]
        [--threads 1] [--allocator default|retain] [--json leaderboards/cost/profile.json]

``--allocator retain`` runs it under ``uebench.runner.allocator.retain_freed_memory``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from uebench.contracts import registry
from uebench.contracts.budget import Budget
from uebench.contracts.presets import get_preset
from uebench.runner import allocator, calibration, data, evaluation, pipeline, store, training
from uebench.runner.environment import cpu_id, cpu_model


def host() -> str:
    """The CPU as records name it, with family/model/stepping."""
    return f"{cpu_model()} ({cpu_id()}), torch {torch.__version__}"


class Regions:
    """Nested timed regions; each keeps inclusive and exclusive (children subtracted) wall,
    user, system seconds and minor page faults."""

    FIELDS = ("wall", "user", "sys", "minflt")

    def __init__(self) -> None:
        self.totals: dict[str, dict[str, float]] = defaultdict(
            lambda: {f: 0.0 for f in (*self.FIELDS, "calls")})
        self.stack: list[list[Any]] = []

    @staticmethod
    def _now() -> np.ndarray:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return np.array([time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt], float)

    def enter(self, name: str) -> None:
        self.stack.append([name, self._now(), np.zeros(4)])

    def exit(self) -> None:
        name, start, children = self.stack.pop()
        spent = self._now() - start
        row = self.totals[name]
        for field, value in zip(self.FIELDS, spent - children):
            row[field] += value
        row["calls"] += 1
        if self.stack:
            self.stack[-1][2] += spent

    @contextmanager
    def region(self, name: str):
        self.enter(name)
        try:
            yield
        finally:
            self.exit()

    def wrap(self, owner: Any, attr: str, name: str | Any) -> None:
        """Replace ``owner.attr`` by a timed call (``name``: a string, or a function of the
        call's arguments giving one)."""
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            with self.region(name if isinstance(name, str) else name(*args, **kwargs)):
                return original(*args, **kwargs)
        setattr(owner, attr, timed)


class _TimedAugment:
    def __init__(self, regions: Regions, augment: Any) -> None:
        self.regions, self.augment = regions, augment

    def __call__(self, volume):
        with self.regions.region("victim: augmentation"):
            return self.augment(volume)


def instrument(regions: Regions, method: str) -> None:
    """Wrap what the pipeline calls (module attributes, looked up at call time)."""
    r = regions
    r.wrap(pipeline, "load_cases", "data: load_cases (synthesis or cache)")
    r.wrap(data.StoredCase, "_read", "I/O: case read (npz decompress)")
    for fn in ("write_arrays", "write_json", "read_arrays"):
        r.wrap(store, fn, "I/O: stage cache write/read")
    method_cls = registry.methods.get(method)
    r.wrap(method_cls, "fit", "method: fit")
    r.wrap(method_cls, "perturb", "method: perturb")
    budgets, found = [Budget], []
    while budgets:
        cls = budgets.pop()
        found.append(cls)
        budgets += cls.__subclasses__()
    for cls in found:
        for fn in ("store", "release"):
            if fn in vars(cls):
                r.wrap(cls, fn, "budget: store + release")
    r.wrap(pipeline, "fidelity", "method: fidelity")
    r.wrap(calibration, "calibration_seconds", "calibration workload")
    r.wrap(pipeline.Pipeline, "_victim_stage",
           lambda self, r_, spec, fp, split, protection, *a: "victim stage: set-up + rest "
           f"({'clean' if protection is None else 'protected'})")
    r.wrap(pipeline, "evaluate", "evaluation: rest (case reads' caller, aggregation)")
    r.wrap(evaluation, "predict", "evaluation: sliding-window predict")
    r.wrap(evaluation, "overlap_scores", "evaluation: DSC + HD95")
    r.wrap(evaluation, "surface_dice", "evaluation: NSD")
    original_train = pipeline.train_segmenter
    original_augment = training.intensity_augmentation
    original_loss = training.dice_ce_loss

    def train(model, *args, **kwargs):
        def timed_loss():
            loss_fn = original_loss()

            def call(output, target):
                with r.region("victim: loss (DiceCE)"):
                    value = loss_fn(output, target)
                r.enter("victim: backward")
                return value
            return call

        def opt_pre(optimizer, args_, kwargs_):
            if r.stack and r.stack[-1][0] == "victim: backward":
                r.exit()
            r.enter("victim: optimiser (Adam)")

        def opt_post(optimizer, args_, kwargs_):
            r.exit()

        handles = [model.register_forward_pre_hook(lambda m, i: r.enter("victim: forward")),
                   model.register_forward_hook(lambda m, i, o: r.exit()),
                   register_optimizer_step_pre_hook(opt_pre),
                   register_optimizer_step_post_hook(opt_post)]
        training.intensity_augmentation = lambda seed: _TimedAugment(r, original_augment(seed))
        training.dice_ce_loss = timed_loss
        try:
            with r.region("victim: training loop rest (batching, zero_grad, item)"):
                return original_train(model, *args, **kwargs)
        finally:
            for h in handles:
                h.remove()
            training.intensity_augmentation = original_augment
            training.dice_ce_loss = original_loss
    pipeline.train_segmenter = train


OP_KINDS = (("convolution_backward", "conv backward"), ("convolution", "conv forward"),
            ("conv", "conv forward"), ("norm", "instance norm"), ("prelu", "PReLU"),
            ("softmax", "softmax"), ("adam", "Adam"), ("_foreach", "Adam"),
            ("cat", "concat/copy"), ("copy", "concat/copy"), ("clone", "concat/copy"),
            ("add", "add/mul (elementwise)"), ("mul", "add/mul (elementwise)"),
            ("empty", "allocation"), ("zero", "allocation"), ("fill", "allocation"))


def op_kind(name: str) -> str:
    low = name.lower()
    for key, kind in OP_KINDS:
        if key in low:
            return kind
    return "other ops"


PHASES = ("augment+batch", "forward", "loss", "backward", "optimiser")


def op_profile(victim: str, preset_name: str, steps: int, seed: int = 0) -> dict[str, Any]:
    """``steps`` train steps of ``victim`` on random 64^3-like cases, the training loop's step
    (augmentation, DiceCE, Adam), under ``torch.profiler``: self CPU seconds per (phase, op
    kind) and the wall seconds per phase."""
    from monai.utils import convert_to_tensor
    from torch.profiler import ProfilerActivity, profile, record_function

    preset = get_preset(preset_name)
    torch.manual_seed(seed)
    size, channels, classes = preset.volume_size, 4, 4
    model = registry.victims.get(victim)().build(channels, classes, preset).train()
    loss_fn = training.dice_ce_loss()
    optimiser = torch.optim.Adam(model.parameters(), lr=preset.lr)
    augment = training.intensity_augmentation(seed)
    volumes = [torch.rand(channels, size, size, size) for _ in range(preset.batch_size)]
    y = torch.randint(0, classes, (preset.batch_size, 1, size, size, size))
    wall: dict[str, float] = defaultdict(float)

    def step() -> None:
        stamps = [time.perf_counter()]
        with record_function("augment+batch"):
            x = torch.stack([convert_to_tensor(augment(v), track_meta=False) for v in volumes])
        optimiser.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
        with record_function("forward"):
            out = model(x)
        stamps.append(time.perf_counter())
        with record_function("loss"):
            loss = loss_fn(out, y)
        stamps.append(time.perf_counter())
        with record_function("backward"):
            loss.backward()
        stamps.append(time.perf_counter())
        with record_function("optimiser"):
            optimiser.step()
        loss.item()
        stamps.append(time.perf_counter())
        for phase, a, b in zip(PHASES, stamps, stamps[1:]):
            wall[phase] += b - a

    step()  # warm-up
    wall.clear()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for event in prof.events():
        parent, phase = event.cpu_parent, None
        while parent is not None:
            if parent.name in PHASES:
                phase = parent.name
            parent = parent.cpu_parent
        if event.name in PHASES:
            continue
        table[phase or "backward"][op_kind(event.name)] += event.self_cpu_time_total / 1e6
    backends = {name: sum(1 for e in prof.events() if e.name == name) // steps
                for name in ("aten::slow_conv3d_forward", "aten::slow_conv_transpose3d",
                             "aten::mkldnn_convolution")}
    return {"steps": steps, "wall_seconds_per_phase": {k: v / steps for k, v in wall.items()},
            "convolution_backends_per_step": backends,
            "self_cpu_seconds_per_step": {p: {k: v / steps for k, v in kinds.items()}
                                          for p, kinds in table.items()}}


def run_profile(method: str, victim: str, preset: str, dataset: str, seed: int,
                epsilon: float, params: dict[str, Any], out: Path) -> dict[str, Any]:
    regions = Regions()
    instrument(regions, method)
    spec = pipeline.RunSpec(method, victim, dataset, epsilon=epsilon, seed=seed, preset=preset,
                            method_params=params)
    start = resource.getrusage(resource.RUSAGE_SELF)
    with regions.region("run: rest (resolve, split, record)"):
        record, _ = pipeline.Pipeline(out, progress=False).run(spec)
    end = resource.getrusage(resource.RUSAGE_SELF)
    total = sum(row["wall"] for row in regions.totals.values())
    rows = {name: {**row, "share": row["wall"] / total} for name, row in regions.totals.items()}
    return {"spec": {"method": method, "victim": victim, "preset": preset, "dataset": dataset,
                     "seed": seed, "epsilon": epsilon, "params": params},
            "wall_seconds": total, "user_seconds": end.ru_utime - start.ru_utime,
            "sys_seconds": end.ru_stime - start.ru_stime,
            "minor_faults": end.ru_minflt - start.ru_minflt,
            "peak_rss_mb": end.ru_maxrss / 1024, "parts": rows,
            "record": {"run_id": record["run_id"],
                       "clean_dsc": record["efficacy"]["clean_trained"]["dsc_fg_mean"],
                       "protected_dsc": record["efficacy"]["protected_trained"]["dsc_fg_mean"],
                       "timings": record["timings"], "throughput": record["throughput"]}}


def table(report: dict[str, Any]) -> str:
    """The parts by CPU seconds (user + system: what a one-thread worker pays; wall time on a
    shared machine also holds other processes' turns)."""
    cpu = {name: row["user"] + row["sys"] for name, row in report["parts"].items()}
    total = sum(cpu.values())
    rows = sorted(report["parts"].items(), key=lambda kv: -cpu[kv[0]])
    return tabulate([(name, f"{cpu[name]:.1f}", f"{100 * cpu[name] / total:.1f}",
                      f"{row['sys']:.1f}", f"{row['wall']:.1f}", f"{row['minflt'] / 1e3:.0f}",
                      int(row["calls"])) for name, row in rows],
                    ["part (exclusive)", "CPU s", "% of run's CPU", "of which sys s", "wall s",
                     "minor faults (k)", "calls"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="em")
    parser.add_argument("--victim", default="unet")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--dataset", default="brats-mni")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eps", type=float, default=4 / 255)
    parser.add_argument("--param", action="append", default=[], help="method KEY=VALUE (int)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--allocator", choices=("default", "retain"), default="default")
    parser.add_argument("--op-steps", type=int, default=5)
    parser.add_argument("--op-only", action="store_true", help="only the op profile")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temp)")
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retained = allocator.retain_freed_memory() if args.allocator == "retain" else False
    params = {k: int(v) for k, v in (p.split("=", 1) for p in args.param)}
    report: dict[str, Any] = {}
    if not args.op_only:
        with tempfile.TemporaryDirectory() as tmp:
            report = run_profile(args.method, args.victim, args.preset, args.dataset,
                                 args.seed, args.eps, params, args.out or Path(tmp))
    report.update(host=host(), threads=args.threads, allocator=args.allocator,
                  allocator_applied=retained)
    if not args.op_only:
        print(table(report))
        print(f"run: {report['wall_seconds']:.1f} s wall, {report['user_seconds']:.1f} s user, "
              f"{report['sys_seconds']:.1f} s sys, {report['minor_faults'] / 1e6:.1f} M minor "
              f"faults, peak RSS {report['peak_rss_mb']:.0f} MB; DSC clean "
              f"{report['record']['clean_dsc']:.4f}, protected "
              f"{report['record']['protected_dsc']:.4f}")
    if args.op_steps:
        ops = op_profile(args.victim, args.preset, args.op_steps)
        report["op_profile"] = ops
        cells = [(phase, kind, f"{1e3 * s:.0f}")
                 for phase, kinds in ops["self_cpu_seconds_per_step"].items()
                 for kind, s in sorted(kinds.items(), key=lambda kv: -kv[1]) if s >= 5e-3]
        print(f"\n{args.victim} train step under torch.profiler ({args.op_steps} steps, "
              f"batch {get_preset(args.preset).batch_size}): wall ms per phase "
              + ", ".join(f"{k} {1e3 * v:.0f}"
                          for k, v in ops["wall_seconds_per_phase"].items()))
        print(tabulate(cells, ["phase", "op kind", "self CPU ms / step (>= 5)"]))
        print("convolutions per step by backend: " + ", ".join(
            f"{k} {v}" for k, v in ops["convolution_backends_per_step"].items()))
    print(f"host: {report['host']}, {args.threads} torch thread(s), allocator {args.allocator}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
