"""A sweep on a distributed engine: the stages of ``uebench.grid.sweep.stage_graph`` as Ray tasks or
as Slurm jobs (submitit), walked by ``uebench.grid.sweep.drive`` exactly as the local executor walks
them.

Stages, not whole runs, because a protection is shared by every victim of its method, budget and
seed and a clean-trained victim by every method: on a cluster too each is computed once. Workers
write into ``out`` (records and the content-addressed stage cache), so ``out`` must be a path
every worker sees (a shared file system). Every write there is atomic (temp file + rename,
``uebench.runner.store``): no reader ever sees half a file, two writers of one file (two sweeps
sharing ``out``) each put down a whole one, and a killed sweep restarted skips the recorded
runs and the cached stages (its unfinished stage leaves at most a stray temp file).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uebench.contracts import registry
from uebench.contracts.core import Preset
from uebench.grid.sweep import (
    Outcome,
    StageError,
    compute_stage,
    drive,
    init_worker,
    prepare_data,
    stage_graph,
)
from uebench.runner.pipeline import RunSpec


class ExecutorError(RuntimeError):
    """An engine that cannot run the sweep as asked (not installed, no GPU to give, no sbatch),
    said in one line before anything is submitted: a task that can never be placed would
    otherwise wait forever."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs before a stage: its torch threads, the driver's presets (a test's or
    a plugin's too) and the driver's ``UEBENCH_*`` variables (the dataset cache)."""

    threads: int
    presets: dict[str, Preset]
    environ: dict[str, str]

    @classmethod
    def of_driver(cls, threads: int) -> WorkerSetup:
        return cls(threads, registry.presets.snapshot(),
                   {k: v for k, v in os.environ.items() if k.startswith("UEBENCH_")})


def run_stage(setup: WorkerSetup, stage: str, spec: RunSpec, out: str,
              device: str) -> tuple[dict, str] | StageError | None:
    """One stage on a worker; a failure comes back as a ``StageError`` naming its cause in one
    line (an engine would wrap it in a remote traceback)."""
    os.environ.update(setup.environ)
    init_worker(setup.threads, setup.presets)
    try:
        return compute_stage(stage, spec, out, device)
    except Exception as error:  # noqa: BLE001 - the driver reports it, the sweep goes on
        return StageError(f"{type(error).__name__}: {error}")


def gpus_per_stage(device: str, gpus_per_task: float | None) -> float:
    """The GPUs a stage asks for: as given, else one on a ``cuda`` device and none otherwise."""
    if gpus_per_task is None:
        return 1.0 if device.startswith("cuda") else 0.0
    return float(gpus_per_task)


def ray_slots(nodes: list[dict[str, Any]], cpus: int, gpus: float) -> int:
    """How many stages asking ``cpus`` CPUs and ``gpus`` GPUs fit at once on the alive
    ``nodes`` (``ray.nodes()``); an ask that no node can meet is an ``ExecutorError``."""
    slots = 0
    for node in (n for n in nodes if n.get("Alive")):
        have_cpus = node["Resources"].get("CPU", 0.0)
        have_gpus = node["Resources"].get("GPU", 0.0)
        fit = int(have_cpus // cpus)
        if gpus:
            fit = min(fit, int(have_gpus / gpus + 1e-9))
        slots += fit
    if slots == 0:
        gpu_count = sum(n["Resources"].get("GPU", 0.0) for n in nodes if n.get("Alive"))
        if gpus and gpu_count == 0:
            raise ExecutorError(f"--gpus-per-task {gpus:g}: the Ray cluster has no GPU; use "
                                "--gpus-per-task 0 (and --device cpu) or a cluster with GPUs")
        raise ExecutorError(f"no node of the Ray cluster has {cpus} CPUs and {gpus:g} GPUs for "
                            "one stage; lower --threads or --gpus-per-task")
    return slots


def execute_ray(specs: list[RunSpec], out: Path, device: str = "auto",
                address: str | None = None, workers: int = 1, threads: int | None = None,
                gpus_per_task: float | None = None,
                report: Callable[[Outcome], None] = lambda outcome: None) -> list[Outcome]:
    """Run ``specs`` on Ray: the cluster at ``address`` (or ``$RAY_ADDRESS``), else a new local
    one of ``workers`` x ``threads`` CPUs (a Ray this process already joined is used as it is
    and left running). Each stage is a task asking ``threads`` CPUs (its torch threads;
    default cores / workers on a new local cluster, else 1) and ``gpus_per_task`` GPUs
    (default 1 on a cuda device, else 0; a fraction shares a GPU between stages). No more
    stages are in flight than the cluster can place, so the ready stage nearest a record goes
    first."""
    if not specs:
        return []
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install 'uebench[ray]'") from None
    gpus = gpus_per_stage(device, gpus_per_task)
    address = address or os.environ.get("RAY_ADDRESS")
    local = address is None and not ray.is_initialized()
    threads = threads or (max(1, (os.cpu_count() or 1) // workers) if local else 1)
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, num_cpus=workers * threads if local else None,
                     include_dashboard=False if local else None)
        except ConnectionError as error:
            raise ExecutorError(f"cannot reach the Ray cluster at {address}: {error}") from None
    try:
        slots = ray_slots(ray.nodes(), threads, gpus)
        prepare_data(specs, out)
        stage = ray.remote(num_cpus=threads, num_gpus=gpus)(run_stage)
        setup, where = WorkerSetup.of_driver(threads), str(Path(out).resolve())
        return drive(stage_graph(specs),
                     lambda batch: [stage.remote(setup, t.stage, t.spec, where, device).future()
                                    for t in batch],
                     slots, report)
    finally:
        if started:
            ray.shutdown()


def execute_slurm(specs: list[RunSpec], out: Path, device: str = "auto",
                  folder: Path | None = None, cluster: str = "slurm", workers: int | None = None,
                  threads: int | None = None, gpus_per_task: float | None = None,
                  params: dict[str, Any] | None = None,
                  report: Callable[[Outcome], None] = lambda outcome: None) -> list[Outcome]:
    """Run ``specs`` as Slurm jobs through submitit: each batch of ready stages is one array
    job (``map_array``), a task per stage (the record stage trains the protected-trained
    victim: one job start fewer per run) asking ``threads`` CPUs (default 1) and
    ``gpus_per_task`` whole GPUs (default 1 on a cuda device, else 0); ``params`` go to
    ``AutoExecutor.update_parameters`` (``slurm_partition``, ``timeout_min``: 240 unless
    given, ...). At most ``workers`` stages are in flight (None: all that are ready; Slurm
    queues them). ``cluster="local"`` runs the jobs as processes on this machine (submitit's
    local executor). Job scripts and logs go to ``folder`` (default ``out/slurm``)."""
    if not specs:
        return []
    try:
        import submitit
    except ImportError:
        raise ExecutorError("--executor slurm needs submitit: pip install 'uebench[slurm]'"
                            ) from None
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise ExecutorError("--executor slurm: no sbatch on this machine; run the sweep on a "
                            "Slurm login node (or --slurm-cluster local to try it here)")
    gpus = gpus_per_stage(device, gpus_per_task)
    if gpus != int(gpus):
        raise ExecutorError(f"--gpus-per-task {gpus:g}: Slurm gives whole GPUs to a job")
    threads = threads or 1
    executor = submitit.AutoExecutor(folder=folder or Path(out) / "slurm", cluster=cluster)
    try:
        executor.update_parameters(**{"name": "uebench-sweep", "timeout_min": 240,
                                      "cpus_per_task": threads, "gpus_per_node": int(gpus),
                                      **(params or {})})
    except (AssertionError, NameError, TypeError, ValueError) as error:
        raise ExecutorError(f"--slurm-param: {str(error).splitlines()[0]}") from None
    prepare_data(specs, out)
    setup, where = WorkerSetup.of_driver(threads), str(Path(out).resolve())
    poll = 0.5 if cluster == "local" else 10.0

    def submit(batch: list) -> list[Future]:
        jobs = executor.map_array(run_stage, [setup] * len(batch), [t.stage for t in batch],
                                  [t.spec for t in batch], [where] * len(batch),
                                  [device] * len(batch))
        futures: list[Future] = [Future() for _ in jobs]
        threading.Thread(target=_settle, args=(jobs, futures, poll), daemon=True).start()
        return futures

    return drive(stage_graph(specs, victim_in_record=True), submit, workers, report)


def _settle(jobs: list, futures: list[Future], poll: float) -> None:
    """Hand each submitit job's result, or the failure of its process, to its future."""
    from submitit.helpers import as_completed

    future_of = {id(job): future for job, future in zip(jobs, futures)}
    try:
        for job in as_completed(jobs, poll_frequency=poll):
            try:
                future_of[id(job)].set_result(job.result())
            except Exception as error:  # noqa: BLE001 - its process failed: reported
                future_of[id(job)].set_exception(error)
    except Exception as error:  # noqa: BLE001 - polling failed: no stage may wait forever
        for future in futures:
            if not future.done():
                future.set_exception(error)
