"""The CUDA path checked end to end in one prepared run, sized for a short GPU lease.

Phases, in order, each timed with the GPU's utilisation sampled once a second:

1. ``card``: the card's command, ``uebench run --method voxshield --victim swinunetr``, as one
   process alone on the GPU (how idle one run leaves it);
2. ``steps``: ``benchmarks/voxshield_steps.py`` at the paper's shape (160^3, batch 8);
3. ``calibrate`` (only with ``--with-calibrate SECONDS``): ``benchmarks/calibrate_presets.py``,
   the clean-trained victims of the ``gpu`` preset's candidates, for up to SECONDS
   (``calibration.json`` and ``calibration-records.tar.gz`` in ``--out``);
4. ``sweep``: the protocol-4 grids (``GRIDS``, most needed first) in ``--workers`` processes
   sharing the GPU, until ``--deadline`` seconds after the start; whatever has not finished
   is stopped, and the records that landed are kept (the sweep is resumable).

Everything it writes goes under ``--out``: ``gpu_check.json`` (phase times, utilisation, the
step benchmark's figures, the sweep's outcomes) and ``records.tar.gz`` (every record).

    python benchmarks/gpu_check.py --out DIR [--deadline 520] [--workers 8]
                                   [--with-calibrate SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

EPS = {4: 4 / 255, 8: 8 / 255, 16: 16 / 255, 32: 32 / 255}
ALL_METHODS = ("clean", "random", "random-roi", "random-signs-roi", "random-signs-classwise",
               "voxshield", "voxshield-pgd", "em", "em-classwise", "tap", "slicewise",
               "slicewise-tap", "lsp", "ar", "rem", "ops")
ALL_VICTIMS = ("unet", "swinunetr", "unetr", "segresnet", "dynunet", "attentionunet",
               "basicunetplusplus", "vnet", "unet2d")
DEFENSES = ("gaussian", "median", "zlowpass", "slice-shuffle", "lowres", "quantize", "jpeg",
            "gamma", "affine", "affine-elastic", "nnunet-aug", "ueraser", "adv-train")
# the attacker's own pipeline (defenses/attacker.py), and the partial-protection curve
ATTACKER = ("early-stop", "pretrained", "regrid", "regrid:factor=1.5")
PARTIAL = ("partial:fraction=0.2", "partial", "partial:fraction=0.8")
# the transfer board's victims: SegResNet at its own lr (at canary-v64's 0.006 it stalls)
TRANSFER_VICTIMS = tuple("segresnet:lr=0.001" if v == "segresnet" else v for v in ALL_VICTIMS)

# (methods, victims, budgets in /255, seeds, defenses[, preset]): issue 9's curves, its seeds
# and other victims, then issue 10's defense board at the budget where methods work on CPU
# (32/255), then the attacker's pipeline and partial protection (issue 17) at the same cells,
# then the recipe walk's end points at the reference scale (issue 31): ``paper`` (the authors'
# recipe) and ``paper-uebench`` (uebench's); then issue 32's protocol-4 boards at the presets
# leaderboards/preset-choice chose (methods at canary-v48, 4 seeds; transfer at canary-v64,
# whose 64^3 SwinUNETR takes; defenses at canary-v48 against rem, as on CPU: the strongest
# method the attacker boards, which hold voxshield and em, do not cover), the transfer first (its 3D
# transformers are what CPUs pay most for); a grid without a preset runs at ``grid_specs``'s.
WALK_ENDS = ("paper", "paper-uebench")
BOARD_CELLS = ("clean", "random-roi", "voxshield", "em")
GRIDS = (
    (BOARD_CELLS, TRANSFER_VICTIMS, (32,), (0, 1, 2), ("none",), "canary-v64"),
    (ALL_METHODS, ("unet",), (4, 8, 16, 32), (0, 1, 2, 3), ("none",), "canary-v48"),
    (("clean", "random-roi", "rem"), ("unet",), (32,), (0, 1, 2),
     ("none",) + DEFENSES + ATTACKER[:3] + ("renormalise",), "canary-v48"),
    (ALL_METHODS, ("unet",), (4, 8, 16, 32), (0,), ("none",)),
    (("clean", "random", "random-roi", "voxshield", "em"), ("unet",), (4, 32), (1, 2),
     ("none",)),
    (("clean", "random", "random-roi", "voxshield"), ("swinunetr", "unet2d"), (4, 32),
     (0, 1, 2), ("none",)),
    (("clean", "random-roi", "voxshield", "em"), ("unet",), (32,), (0, 1, 2), DEFENSES),
    (("clean", "random-roi", "voxshield", "em"), ("unet",), (32,), (0, 1, 2),
     ATTACKER + PARTIAL),
    *((("clean", "random-roi", "voxshield", "em"), ("unet",), (4, 32), (0, 1, 2), ("none",),
       end) for end in WALK_ENDS),
)


def grid_specs(dataset: str = "brats-mni", preset: str = "quick") -> list:
    """Every run of ``GRIDS`` once, in the order given (each at its own preset, else at
    ``preset``)."""
    from uebench.grid.sweep import plan

    specs, seen = [], set()
    for methods, victims, budgets, seeds, defenses, *own in GRIDS:
        for spec in plan(methods, victims, [EPS[b] for b in budgets], seeds, dataset,
                         own[0] if own else preset, defenses):
            if spec.run_id() not in seen:
                seen.add(spec.run_id())
                specs.append(spec)
    return specs


class Utilisation:
    """Samples ``nvidia-smi`` (GPU utilisation %, memory MiB) once a second in a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits"]
        while not self._stop.is_set():
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
                util, memory = (float(v) for v in out.splitlines()[0].split(","))
                self.samples.append((time.time(), util, memory))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                pass
            self._stop.wait(1.0)

    def __enter__(self) -> Utilisation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, start: float, end: float) -> dict[str, float | int]:
        window = [(u, m) for t, u, m in self.samples if start <= t <= end]
        if not window:
            return {"samples": 0}
        utils = [u for u, _ in window]
        return {"samples": len(window), "util_mean_pct": sum(utils) / len(utils),
                "idle_fraction": sum(u < 10 for u in utils) / len(utils),
                "memory_max_mib": max(m for _, m in window)}


def run_phase(name: str, command: list[str], log: Path, timeout: float,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` in its own process group, stopped (with its children) after
    ``timeout`` seconds; its output goes to ``log``."""
    start = time.time()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env)
        try:
            returncode = process.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            returncode = "stopped at deadline"
    end = time.time()
    print(f"[{name}] {end - start:.1f} s, exit {returncode}", flush=True)
    return {"phase": name, "start": start, "end": end, "seconds": end - start,
            "returncode": returncode}


def sweep_main(out: Path, workers: int, threads: int, device: str = "cuda") -> None:
    """The sweep phase's process: ``GRIDS`` on ``device``, one line per landed record."""
    from uebench.grid.sweep import execute, pending

    specs = grid_specs()
    todo = pending(specs, out)
    print(f"{len(specs)} runs, {len(todo)} to do, {workers} workers x {threads} threads",
          flush=True)
    started = time.time()

    def report(outcome) -> None:
        spec = outcome.spec
        label = (f"{time.time() - started:7.1f} s {spec.method} {spec.victim} {spec.defense} "
                 f"eps {spec.epsilon * 255:.0f}/255 seed {spec.seed}")
        if outcome.error:
            print(f"{label}: FAILED {outcome.error}", flush=True)
            return
        eff = outcome.record["efficacy"]
        print(f"{label}: {eff['clean_trained']['dsc_fg_mean']:.3f} -> "
              f"{eff['protected_trained']['dsc_fg_mean']:.3f}", flush=True)

    execute(todo, out, device, workers, threads, report=report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    parser.add_argument("--deadline", type=float, default=520.0,
                        help="seconds after the start by which everything has stopped")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda", help="the sweep's device")
    parser.add_argument("--skip", action="append", default=[], choices=("card", "steps"))
    parser.add_argument("--with-calibrate", type=float, default=None, metavar="SECONDS",
                        help="run the calibrate phase, for up to SECONDS, before the sweep")
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_only:
        sweep_main(args.work / "sweep", args.workers, args.threads, args.device)
        return
    start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    phases = []
    with Utilisation() as gpu:
        if "card" not in args.skip:
            phases.append(run_phase("card", [
                python, "-m", "uebench.cli", "run", "--method", "voxshield", "--victim",
                "swinunetr", "--out", str(args.work / "card"), "--quiet"],
                args.out / "card.log", 150, env))
        if "steps" not in args.skip:
            phases.append(run_phase("steps", [
                python, "benchmarks/voxshield_steps.py", "--device", "cuda", "--size", "160",
                "--batch", "8", "--preset", "paper", "--rounds", "15"],
                args.out / "steps.log", 90, env))
        if args.with_calibrate:
            phases.append(run_phase("calibrate", [
                python, "-m", "benchmarks.calibrate_presets", "--out", str(args.out), "--work",
                str(args.work / "calibrate"), "--deadline", str(args.with_calibrate),
                "--device", args.device],
                args.out / "calibrate.log", args.with_calibrate + 30, env))
        remaining = args.deadline - (time.time() - start) - 15
        phases.append(run_phase("sweep", [
            python, __file__, "--out", str(args.out), "--work", str(args.work), "--workers",
            str(args.workers), "--threads", str(args.threads), "--device", args.device,
            "--sweep-only"],
            args.out / "sweep.log", remaining, env))
    for phase in phases:
        phase["gpu"] = gpu.summary(phase["start"], phase["end"])
    records = sorted((args.work / "sweep" / "records").glob("*.json"))
    records += sorted((args.work / "card" / "records").glob("*.json"))
    with tarfile.open(args.out / "records.tar.gz", "w:gz") as tar:
        for path in records:
            tar.add(path, arcname=f"{path.parent.parent.name}/{path.name}")
    steps = (args.out / "steps.log").read_text().splitlines() if "steps" not in args.skip else []
    summary = {"phases": phases, "records": len(records),
               "steps": json.loads(steps[-1]) if steps and steps[-1].startswith("{") else None,
               "wall_seconds": time.time() - start}
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "phases"}, indent=2))
    for phase in phases:
        print(phase["phase"], f"{phase['seconds']:.1f} s", phase["returncode"], phase["gpu"])


if __name__ == "__main__":
    main()
