"""A grid of runs (methods x victims x budgets x seeds) for a leaderboard, resumable, on one
process or several.

Every run is a small graph of stages: its protection (shared by every victim and defense that
uses the same method, budget and seed), the clean-trained victim (shared by every method of
that victim and seed), the protected-trained victim, and the record assembled from the three.
``execute`` computes each distinct stage once, in up to ``workers`` processes (each with
``threads`` torch threads); a free worker takes the ready stage nearest to a record (see
``PRIORITY``), so records land as the sweep goes; every stage is
cached when it finishes and a run whose record is already in ``out/records`` is skipped, so an
interrupted sweep picks up where it stopped. A method bounded in another norm than L-inf (such
as OPS, L0) ignores eps and runs once, recorded at ``DEFAULT_EPSILON`` whatever the sweep's
budgets, so that a later sweep at other budgets finds its record instead of repeating it.
``drive`` walks the stage graph on any engine that hands back futures: ``execute`` gives it
local processes, ``uebench.grid.executors`` a Ray cluster or Slurm.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from uebench.contracts import registry
from uebench.contracts.core import Preset
from uebench.contracts.params import method_schema, parse_assignments
from uebench.contracts.presets import get_preset
from uebench.grid.worker_lifetime import die_with_parent
from uebench.runner.defense_chain import canonical_defense
from uebench.runner.pipeline import DEFAULT_EPSILON, Pipeline, RunSpec
from uebench.runner.stages import stage_id
from uebench.runner.victim_spec import canonical_victim


def plan(methods: Iterable[str], victims: Iterable[str], epsilons: Iterable[float],
         seeds: Iterable[int], dataset: str, preset: str,
         defenses: Iterable[str] = ("none",)) -> list[RunSpec]:
    """The runs of the grid, victim-major (cheap victims first if listed first); each of
    ``defenses`` (a name or a ``+``-combination) is one more column of the grid."""
    epsilons, seeds, methods = list(epsilons), list(seeds), list(methods)
    defenses = [canonical_defense(d) for d in defenses]
    victims = [canonical_victim(v) for v in victims]
    parsed = [method_spec(method, preset) for method in methods]
    specs = []
    for victim in victims:
        for defense in defenses:
            for index, epsilon in enumerate(epsilons):
                for method, params in parsed:
                    budget = epsilon
                    if registry.methods.get(method).norm != "linf":
                        if index > 0:
                            continue
                        budget = DEFAULT_EPSILON
                    specs += [RunSpec(method=method, victim=victim, dataset=dataset,
                                      defense=defense, epsilon=budget, seed=seed,
                                      preset=preset, method_params=dict(params))
                              for seed in seeds]
    return specs


def method_spec(text: str, preset: str) -> tuple[str, dict[str, Any]]:
    """``voxshield`` or ``voxshield:lambda_z=0,lambda_l=0`` -> the method's name and its
    parameter overrides, parsed and checked against its parameters under ``preset`` (one
    grid row per spelling, as ``uebench run --param`` would make it)."""
    name, _, arguments = text.partition(":")
    cls = registry.methods.get(name.strip())
    items = [item for item in arguments.split(",") if item.strip()]
    owner = f"method {cls.name!r}"
    values = parse_assignments(owner, method_schema(cls, get_preset(preset)), items,
                               option=f"method {text!r}:")
    return cls.name, values


def pending(specs: list[RunSpec], out: Path) -> list[RunSpec]:
    """The specs without a record in ``out/records`` yet."""
    return [s for s in specs if not (Path(out) / "records" / f"{s.run_id()}.json").exists()]


@dataclass
class Task:
    """One stage to compute: ``stage`` of ``spec`` (``record`` assembles the run's record);
    ``key`` is the stage's identity (``uebench.runner.stages.stage_id``)."""

    key: tuple
    stage: str
    spec: RunSpec
    needs: list[tuple] = field(default_factory=list)


def stage_graph(specs: list[RunSpec], victim_in_record: bool = False) -> list[Task]:
    """The distinct stages of ``specs`` and what each needs, in plan order. With
    ``victim_in_record`` the record stage trains the protected-trained victim itself (as
    ``Pipeline.run`` does): one stage fewer per run where starting one is dear (a Slurm job),
    though that victim then also waits for the clean-trained one."""
    tasks: dict[tuple, Task] = {}

    def add(task: Task) -> tuple:
        tasks.setdefault(task.key, task)
        return task.key

    for spec in specs:
        protect = add(Task(stage_id("protect", spec), "protect", spec))
        clean = add(Task(stage_id("clean_victim", spec), "clean_victim", spec))
        record = stage_id("record", spec)
        if victim_in_record:
            add(Task(record, "record", spec, [protect, clean]))
            continue
        victim = add(Task(stage_id("protected_victim", spec), "protected_victim", spec,
                          [protect]))
        add(Task(record, "record", spec, [protect, clean, victim]))
    return list(tasks.values())


# A free worker takes the ready stage that brings a record closest: records land as the sweep
# goes (a sweep stopped early keeps whole runs, not a heap of protections).
PRIORITY = {"record": 0, "protected_victim": 1, "clean_victim": 2, "protect": 3}


@dataclass
class Outcome:
    """A finished record, or the error that stopped a run."""

    spec: RunSpec
    record: dict[str, Any] | None = None
    path: Path | None = None
    error: str | None = None


class StageError(Exception):
    """A stage that failed in a worker, as ``"<ExceptionType>: <message>"``: an engine's worker
    returns it instead of raising, so the sweep reports the cause, not a remote traceback."""


Submit = Callable[[list[Task]], list[Future]]


def execute(specs: list[RunSpec], out: Path, device: str = "auto", workers: int = 1,
            threads: int | None = None, progress: bool = False,
            report: Callable[[Outcome], None] = lambda outcome: None) -> list[Outcome]:
    """Run ``specs`` (their records land in ``out/records``); ``report`` sees each outcome as
    it lands. ``workers == 1`` runs in this process; otherwise stages run in ``workers``
    spawned processes with ``threads`` torch threads each (default: cores / workers)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    if workers == 1 or not specs:
        return _serial(specs, Pipeline(out, device=device, progress=progress), report)
    threads = threads or max(1, (multiprocessing.cpu_count() or 1) // workers)
    prepare_data(specs, out)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_local_worker,
                             initargs=(threads, registry.presets.snapshot())) as pool:
        return drive(stage_graph(specs),
                     lambda batch: [pool.submit(compute_stage, t.stage, t.spec, str(out), device)
                                    for t in batch],
                     workers, report)


def prepare_data(specs: list[RunSpec], out: Path) -> None:
    """Generate (or find cached) each dataset of ``specs`` once, here, before workers start:
    they would otherwise each generate it."""
    for spec in {(s.dataset, s.preset): s for s in specs}.values():
        Pipeline(out, device="cpu", progress=False).stage(spec, "data")


def drive(tasks: list[Task], submit: Submit, slots: int | None,
          report: Callable[[Outcome], None]) -> list[Outcome]:
    """Compute ``tasks`` on an engine: ``submit`` starts a batch of ready stages and returns a
    future per stage (its result, a ``StageError``, or an exception); at most ``slots`` stages
    run at once (None: no cap), the ready stage nearest a record first (``PRIORITY``). A
    failed stage fails the records that need it; the others go on."""
    outcomes: list[Outcome] = []
    failed: dict[tuple, str] = {}
    done: set[tuple] = set()
    waiting = list(tasks)
    running: dict[Future, Task] = {}
    while waiting or running:
        for task in [t for t in waiting if any(need in failed for need in t.needs)]:
            waiting.remove(task)
            failed[task.key] = next(failed[n] for n in task.needs if n in failed)
            if task.stage == "record":
                outcome = Outcome(task.spec, error=failed[task.key])
                outcomes.append(outcome)
                report(outcome)
        ready = sorted((t for t in waiting if all(need in done for need in t.needs)),
                       key=lambda t: PRIORITY[t.stage])
        batch = ready if slots is None else ready[: slots - len(running)]
        if batch:
            for task in batch:
                waiting.remove(task)
            running.update(zip(submit(batch), batch))
        if not running:
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            task = running.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - reported, the sweep goes on
                result = StageError(f"{type(error).__name__}: {error}")
            if isinstance(result, StageError):
                failed[task.key] = f"{task.stage}: {result}"
            else:
                done.add(task.key)
            if task.stage == "record":
                outcome = (Outcome(task.spec, error=failed[task.key]) if task.key in failed
                           else Outcome(task.spec, record=result[0], path=Path(result[1])))
                outcomes.append(outcome)
                report(outcome)
    return outcomes


def _serial(specs: list[RunSpec], pipeline: Pipeline,
            report: Callable[[Outcome], None]) -> list[Outcome]:
    outcomes = []
    for spec in specs:
        try:
            record, path = pipeline.run(spec)
            outcome = Outcome(spec, record=record, path=path)
        except ValueError as error:
            outcome = Outcome(spec, error=str(error))
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def init_worker(threads: int, presets: dict[str, Preset]) -> None:
    """Torch threads, and the driver's presets (``registry.presets.snapshot()``: a test's or a
    script's, registered at run time, too)."""
    torch.set_num_threads(threads)
    registry.presets.restore(presets)


def init_local_worker(threads: int, presets: dict[str, Preset]) -> None:
    """``init_worker`` for a worker of this machine's pool, which also ends when the driver
    does (a stopped sweep leaves no stage running on the cores)."""
    die_with_parent()
    init_worker(threads, presets)


def compute_stage(stage: str, spec: RunSpec, out: str, device: str) -> tuple[dict, str] | None:
    """One stage in a worker process; ``record`` returns the record and its path."""
    pipeline = Pipeline(Path(out), device=device, progress=False)
    if stage == "record":
        record, path = pipeline.run(spec)
        return record, str(path)
    pipeline.stage(spec, stage)
    return None
