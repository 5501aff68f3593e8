"""Calibrates the candidates for a ``gpu`` preset (one GPU, minutes per run) on a GPU.

The way ``quick`` was calibrated: the CLEAN-trained victims' DSC on brats-mni first. Each
candidate (``CANDIDATES``) is registered in the preset registry at runtime, then
the ``clean`` method runs on each victim (default unet and swinunetr) for seeds 0..N-1, seed
by seed (every candidate and victim at seed 0 lands before any seed 1), through
``uebench.grid.sweep.execute`` in a child process stopped at ``--deadline`` seconds after the
start; the records that landed are kept in ``--work`` (with the stage cache and the sweep's
log), and a rerun on the same ``--work`` skips them (``uebench.grid.sweep.pending``).

Written under ``--out`` (two files, so it can share a folder of few files with
``gpu_check.py``'s): ``calibration-records.tar.gz`` (every record) and ``calibration.json``:
per candidate and victim, the clean-trained DSC (foreground mean and per class) of each seed
and their mean, the wall seconds of each run (the clean-trained victim's training and
evaluation, from the record's stage times), the device, and a verdict per candidate: does the
clean-trained unet clear the reference bar (seed-mean fg-mean DSC >= 0.7 and each class
>= 0.5, the bar the canary preset was calibrated to) and does every victim's median run take
at most ``--minutes-per-run``. The sweep's log and a short table are printed.

    python -m benchmarks.calibrate_presets --out DIR [--work DIR] [--candidate gpu-96]
        [--seeds 2] [--deadline 540] [--workers 2] [--size 32 --epochs 1 --split 2 1 2]

``--size``, ``--epochs`` and ``--split`` override the candidates' (a tiny CPU run, or a second
try at a different schedule); the overridden preset's name says so. Run from the repository
root (``benchmarks`` is imported as a package); ``benchmarks/gpu_check.py --with-calibrate``
runs it as a phase.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from benchmarks.gpu_check import Utilisation, run_phase
from uebench.contracts import registry
from uebench.contracts.core import Preset
from uebench.grid.sweep import Outcome, execute, pending
from uebench.results.records import (
    REFERENCE_MIN_CLASS_DSC,
    REFERENCE_MIN_FG_DSC,
    Record,
    class_names,
    read_record,
    reference_warning,
)
from uebench.runner.pipeline import RunSpec

REPO = Path(__file__).resolve().parents[1]
METHOD = "clean"
BAR_VICTIM = "unet"
FAILURES = "failures.jsonl"
# Of the deadline, kept for stopping the sweep (run_phase waits up to 15 s after SIGTERM) and
# writing the summary.
SUMMARY_MARGIN_S = 20.0

# CANDIDATES, not calibrated presets: this script is what calibrates them. Both have quick's
# 3 validation and 16 test volumes (a clean-trained victim's interval narrower than the effects
# compared), 24 training volumes (quick: 14) and the reference victim widths (the paper's
# unet and SwinUNETR, feature size 48). They differ in volume size only, so one run tells what
# the larger size costs (minutes per run, GPU memory) and buys (clean-trained DSC):
# - gpu-96: the first size above quick's 64^3 that SwinUNETR takes (multiples of 32); does the
#   reference pair clear the bar at this schedule, and how far under the time limit is it?
# - gpu-128: nearer the paper's 160^3; does it still fit minutes per run, and the GPU's memory
#   with two workers?
# Schedule: batch 2 x 20 epochs = 240 Adam steps (quick: 140 steps, which took the small
# victims to fg-mean DSC 0.87 / 0.95 at 64^3 on the H100 check) at lr 1e-3, between quick's
# 2e-3 (small victims) and the paper's 5e-4 (100 epochs). Batch 2, not the paper's 8: a
# SwinUNETR training step keeps about 14 GiB of fp32 activations per 128^3 volume (1.8 GiB at
# 64^3, counted with saved-tensor hooks on a CPU, times 8), so two workers at batch 2 should
# stay within an H100's 80 GB (the GPU memory sampled during the sweep says).
CANDIDATES = (
    Preset(name="gpu-96", volume_size=96, n_cases=43, epochs=20, batch_size=2, lr=1e-3,
           victim_scale="reference", split=(24, 3, 16)),
    Preset(name="gpu-128", volume_size=128, n_cases=43, epochs=20, batch_size=2, lr=1e-3,
           victim_scale="reference", split=(24, 3, 16)),
)


def candidates(names: list[str] | None = None, size: int | None = None,
               epochs: int | None = None,
               split: tuple[int, int, int] | None = None) -> list[Preset]:
    """The candidates called ``names`` (all by default, in ``CANDIDATES`` order) with any of
    ``size``, ``epochs`` and ``split`` replaced; an overridden one is renamed (e.g.
    ``gpu-96-size32-epochs1``) so its records never pass for the candidate's own."""
    chosen = [c for c in CANDIDATES if not names or c.name in names]
    overrides: dict[str, Any] = {}
    suffix = ""
    if size is not None:
        overrides["volume_size"] = size
        suffix += f"-size{size}"
    if epochs is not None:
        overrides["epochs"] = epochs
        suffix += f"-epochs{epochs}"
    if split is not None:
        overrides.update(split=tuple(split), n_cases=sum(split))
        suffix += "-split" + ".".join(map(str, split))
    return [replace(c, name=c.name + suffix, **overrides) for c in chosen]


def register(presets: list[Preset]) -> None:
    """Make ``presets`` known by name in this process (``execute`` hands the registry's
    presets to its workers); the committed presets are left as they are."""
    for preset in presets:
        registry.register_preset(preset)


def calibration_specs(presets: list[Preset], victims: list[str], seeds: int,
                      dataset: str) -> list[RunSpec]:
    """The ``clean`` runs, seed-major (every candidate and victim at seed 0 first): a sweep
    stopped at the deadline leaves whole seeds of every candidate rather than more seeds of
    the first one."""
    return [RunSpec(method=METHOD, victim=victim, dataset=dataset, seed=seed,
                    preset=preset.name)
            for seed in range(seeds) for preset in presets for victim in victims]


def sweep_main(args: argparse.Namespace) -> None:
    """The child process: the pending calibration runs through ``execute``, a line per landed
    record in the log, a JSON line per failure in ``work/failures.jsonl``."""
    presets = candidates(args.candidate, args.size, args.epochs, args.split)
    register(presets)
    if args.threads:
        torch.set_num_threads(args.threads)  # execute sets it only in worker processes
    todo = pending(calibration_specs(presets, args.victim, args.seeds, args.dataset), args.work)
    failures = args.work / FAILURES
    failures.write_text("")
    print(f"{len(todo)} runs to do, {args.workers} workers", flush=True)
    started = time.time()

    def report(outcome: Outcome) -> None:
        spec = outcome.spec
        label = f"{time.time() - started:7.1f} s {spec.preset} {spec.victim} seed {spec.seed}"
        if outcome.error:
            print(f"{label}: FAILED {outcome.error}", flush=True)
            with open(failures, "a") as handle:
                handle.write(json.dumps({"run_id": spec.run_id(), "error": outcome.error})
                             + "\n")
            return
        row = summarise_record(outcome.record)
        print(f"{label}: DSC {row['dsc_fg_mean']}, {row['wall_seconds']:.1f} s", flush=True)

    execute(todo, args.work, args.device, args.workers, args.threads, report=report)


def summarise_record(record: Record) -> dict[str, Any]:
    """What calibration needs of one record: the clean-trained DSC (fg mean, per class), the
    wall seconds of the run (the clean-trained victim's training and evaluation, as its stage
    time says; the whole run's where it does not) and the device."""
    clean = record["efficacy"]["clean_trained"]
    timings = record["timings"]
    victim = record["throughput"]["victim_training"]["clean"]
    return {"run_id": record["run_id"],
            "dsc_fg_mean": clean["dsc_fg_mean"],
            "dsc": {name: clean["dsc"].get(name) for name in class_names(record)},
            "wall_seconds": timings["stage_seconds"].get("clean_victim")
            or timings["run_seconds"],
            "seconds_per_epoch": victim["seconds_per_epoch"],
            "device": record["environment"]["device"]}


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def clears_bar(dsc_fg_mean: float | None, dsc: dict[str, float | None]) -> bool | None:
    """Whether a clean-trained victim clears the reference bar, by the rule every run's record
    applies (``uebench.results.records.reference_warning``); None when there is nothing to
    judge."""
    if dsc_fg_mean is None:
        return None
    return reference_warning({"dsc_fg_mean": dsc_fg_mean, "dsc": dsc}, list(dsc)) is None


def summarise(presets: list[Preset], victims: list[str], seeds: int, dataset: str,
              work: Path, minutes_per_run: float) -> dict[str, dict[str, Any]]:
    """Per candidate: its preset, per victim each seed's record summary (or failure) with the
    seed means, and the verdict."""
    failures = {}
    if (work / FAILURES).exists():
        for line in (work / FAILURES).read_text().splitlines():
            failure = json.loads(line)
            failures[failure["run_id"]] = failure["error"]
    result = {}
    for preset in presets:
        per_victim = {}
        for victim in victims:
            rows, failed = {}, {}
            for seed in range(seeds):
                spec = RunSpec(method=METHOD, victim=victim, dataset=dataset, seed=seed,
                               preset=preset.name)
                path = work / "records" / f"{spec.run_id()}.json"
                if path.exists():
                    rows[seed] = summarise_record(read_record(path))
                elif spec.run_id() in failures:
                    failed[seed] = failures[spec.run_id()]
            fg = _mean([r["dsc_fg_mean"] for r in rows.values()])
            classes = {name: _mean([r["dsc"][name] for r in rows.values()])
                       for name in next(iter(rows.values()), {"dsc": {}})["dsc"]}
            per_victim[victim] = {
                "seeds": rows, "failed": failed, "dsc_fg_mean": fg, "dsc": classes,
                "clears_bar": clears_bar(fg, classes),
                "seeds_clearing_bar": sum(bool(clears_bar(r["dsc_fg_mean"], r["dsc"]))
                                          for r in rows.values()),
                "median_wall_seconds": (statistics.median(r["wall_seconds"]
                                                          for r in rows.values())
                                        if rows else None),
                "devices": sorted({r["device"] for r in rows.values()})}
        result[preset.name] = {"preset": preset.to_dict(), "victims": per_victim,
                               "verdict": verdict(per_victim, seeds, minutes_per_run)}
    return result


def verdict(per_victim: dict[str, dict[str, Any]], seeds: int,
            minutes_per_run: float) -> dict[str, Any]:
    """A candidate passes when its clean-trained unet clears the reference bar (seed means) and
    every victim's median run takes at most ``minutes_per_run`` (a protection run of the
    preset trains one such victim on top of its protection); ``complete``: every run landed."""
    bar = per_victim.get(BAR_VICTIM, {}).get("clears_bar")
    medians = [v["median_wall_seconds"] for v in per_victim.values()]
    slowest = max(medians) if medians and None not in medians else None
    within = None if slowest is None else slowest <= minutes_per_run * 60
    return {"clears_bar": bar, "slowest_median_wall_seconds": slowest,
            "within_minutes_per_run": within,
            "complete": all(len(v["seeds"]) == seeds for v in per_victim.values()),
            "pass": bar is True and within is True}


def tables(summary: dict[str, Any]) -> str:
    """The runs (a row per candidate and victim) and the verdicts, as text."""

    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def flag(value: bool | None) -> str:
        return "?" if value is None else ("yes" if value else "NO")

    rows, names = [], []
    for name, candidate in summary["candidates"].items():
        for victim, v in candidate["victims"].items():
            names = names or list(v["dsc"])
            rows.append([name, victim, f"{len(v['seeds'])}/{summary['seeds']}",
                         number(v["dsc_fg_mean"]),
                         " / ".join(number(d, 2) for d in v["dsc"].values()) or "-",
                         number(v["median_wall_seconds"], 1), flag(v["clears_bar"]),
                         len(v["failed"])])
    runs = tabulate(rows, headers=["candidate", "victim", "seeds", "DSC fg", "DSC per class",
                                   "median s/run", "bar", "failed"])
    limit = summary["minutes_per_run"]
    verdicts = tabulate(
        [[name, c["preset"]["volume_size"], c["preset"]["epochs"],
          flag(c["verdict"]["clears_bar"]),
          number(c["verdict"]["slowest_median_wall_seconds"], 1),
          flag(c["verdict"]["within_minutes_per_run"]), flag(c["verdict"]["complete"]),
          "PASS" if c["verdict"]["pass"] else "no"]
         for name, c in summary["candidates"].items()],
        headers=["candidate", "size", "epochs", f"{BAR_VICTIM} bar", "slowest median s",
                 f"<= {limit:g} min", "complete", "verdict"])
    classes = f"classes: {', '.join(names)}" if names else "no records"
    return f"{runs}\n({classes}; device: {', '.join(summary['devices']) or '-'})\n\n{verdicts}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_presets",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for calibration.json and calibration-records.tar.gz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/calibrate_presets"),
                        help="folder for the sweep (records, stage cache, log); a rerun on "
                             "the same one skips the runs that landed")
    parser.add_argument("--candidate", action="append", choices=[c.name for c in CANDIDATES],
                        help="only these candidates (repeatable; default: all)")
    parser.add_argument("--victim", action="append",
                        help="victims (repeatable; default: unet and swinunetr)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1")
    parser.add_argument("--dataset", default="brats-mni")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per worker (default: cores / workers)")
    parser.add_argument("--deadline", type=float, default=540.0,
                        help="seconds after the start by which everything has stopped")
    parser.add_argument("--minutes-per-run", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=None, help="override the volume size")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs")
    parser.add_argument("--split", type=int, nargs=3, default=None,
                        metavar=("TRAIN", "VAL", "TEST"), help="override the split")
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.victim = args.victim or ["unet", "swinunetr"]
    return args


def main(argv: list[str] | None = None) -> int:
    """Sweep the pending calibration runs (in a child process, stopped at the deadline), then
    write ``calibration.json`` and the records' tarball and print the sweep's log and the
    tables; 1 when the sweep's process failed."""
    start = time.time()
    args = parse_args(argv)
    if args.sweep_only:
        sweep_main(args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    presets = candidates(args.candidate, args.size, args.epochs, args.split)
    register(presets)
    specs = calibration_specs(presets, args.victim, args.seeds, args.dataset)
    todo = pending(specs, args.work)
    sweep = None
    if todo:
        command = [sys.executable, "-m", "benchmarks.calibrate_presets", *(argv or sys.argv[1:]),
                   "--sweep-only"]
        # expandable segments: less fragmentation where two SwinUNETR workers near 80 GB
        env = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", **os.environ,
               "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")]))}
        log = args.work / "sweep.log"
        with Utilisation() as gpu:
            sweep = run_phase("calibrate-sweep", command, log,
                              args.deadline - (time.time() - start) - SUMMARY_MARGIN_S, env)
        sweep["gpu"] = gpu.summary(sweep["start"], sweep["end"])
        print(log.read_text(), flush=True)
    per_candidate = summarise(presets, args.victim, args.seeds, args.dataset, args.work,
                              args.minutes_per_run)
    devices = sorted({d for c in per_candidate.values() for v in c["victims"].values()
                      for d in v["devices"]})
    summary = {
        "method": METHOD, "dataset": args.dataset, "victims": args.victim, "seeds": args.seeds,
        "device_requested": args.device, "devices": devices, "workers": args.workers,
        "threads": args.threads, "deadline_seconds": args.deadline,
        "minutes_per_run": args.minutes_per_run,
        "bar": {"victim": BAR_VICTIM, "dsc_fg_mean_min": REFERENCE_MIN_FG_DSC,
                "dsc_class_min": REFERENCE_MIN_CLASS_DSC},
        "runs": {"planned": len(specs), "recorded_before": len(specs) - len(todo),
                 "landed_now": len(todo) - len(pending(todo, args.work))},
        "sweep": sweep, "candidates": per_candidate, "wall_seconds": time.time() - start,
    }
    (args.out / "calibration.json").write_text(json.dumps(summary, indent=2))
    with tarfile.open(args.out / "calibration-records.tar.gz", "w:gz") as tar:
        for spec in specs:
            path = args.work / "records" / f"{spec.run_id()}.json"
            if path.exists():
                tar.add(path, arcname=f"calibration/{path.name}")
    print(tables(summary))
    return 1 if sweep and sweep["returncode"] not in (0, "stopped at deadline") else 0


if __name__ == "__main__":
    sys.exit(main())
