"""The one way data flows: dataset -> split -> method.fit -> perturb -> budget + int8 storage
-> [defense] -> victim training on the protected train split -> evaluation on the CLEAN test
split -> JSON record (assembled by ``uebench.results.records``).

Every stage's output is cached under a content-addressed key (see ``StageCache``), so a re-run
or a resume after a crash redoes nothing that finished; the clean-trained reference victim for
(dataset, victim, preset, seed) is trained once and reused by every method.

The defenses act only through the hooks of ``uebench.contracts.core.Defense``, which
``DefenseChain`` calls on each defense of the run: ``check`` in ``resolve``; then, for the
victim trained on the protected data under a defense, ``clean_cases`` (the cases the attacker
holds clean), ``read`` (each training volume as the attacker reads it), ``apply`` (the data
defenses), ``grid`` (the attacker's grid, for training and for the prediction),
``initial_weights``, ``validation`` (the epoch's pick) and ``batch_loss`` (the training-time
defenses), with a ``DefenseContext`` of that training. The runner names no defense.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from uebench.contracts import registry
from uebench.contracts.budget import Budget, check_epsilon
from uebench.contracts.core import Case, Dataset, Method, Preset, RunContext
from uebench.contracts.presets import get_preset
from uebench.results import records
from uebench.runner import calibration
from uebench.runner.allocator import retain_freed_memory
from uebench.runner.data import Split, fingerprint, load_cases, preset_split, resolve_dataset
from uebench.runner.defense_chain import (
    NONE,
    DefenseChain,
    DefenseContext,
    DefenseSetup,
    defense_origins,
)
from uebench.runner.environment import environment
from uebench.runner.evaluation import dsc_only, evaluate, regrid_shape, resample
from uebench.runner.fidelity import fidelity, mean_fidelity
from uebench.runner.monitoring import val_loss
from uebench.runner.released import RELEASED, ReleasedFolder
from uebench.runner.stages import STAGES, protection_key, victim_key
from uebench.runner.store import StageCache, default_cache_root, stable_hash, write_json
from uebench.runner.training import resolve_device, seed_everything, train_segmenter
from uebench.runner.victim_spec import build_victim, victim_name

# A run's L-inf budget unless it names one; also the one a method bounded in another norm
# is recorded at, whatever the budgets of its sweep (it ignores eps).
DEFAULT_EPSILON = 4 / 255


@dataclass
class RunSpec:
    """Everything that defines a run; its hash is the run id."""

    method: str
    victim: str
    dataset: str = "brats-mni"
    defense: str = NONE
    epsilon: float = DEFAULT_EPSILON
    seed: int = 0
    preset: str = "quick"
    method_params: dict[str, Any] = field(default_factory=dict)

    def run_id(self) -> str:
        """``METHOD-VICTIM-HASH``, a file name on every system: a victim's parameters
        (``segresnet:lr=0.001``) are in the hash and the record, not the name, as a method's
        are (a ``:`` cannot be in a Windows checkout's path)."""
        return f"{self.method}-{victim_name(self.victim)}-{stable_hash(asdict(self), 10)}"


@dataclass
class Resolved:
    """The plugins a spec names, checked before any work starts."""

    dataset: Dataset
    preset: Preset
    method: Method
    victim: Any
    defense: Any


def resolve(spec: RunSpec) -> Resolved:
    """Look every name up and validate the spec; raises before anything is computed."""
    check_epsilon(spec.epsilon)
    preset = get_preset(spec.preset)
    method_cls = (ReleasedFolder if spec.method == RELEASED
                  else registry.methods.get(spec.method))
    victim = build_victim(spec.victim)
    defense = DefenseChain(spec.defense)  # "a+b": data defenses, then training-time ones
    dataset = resolve_dataset(spec.dataset)
    victim.check_size(preset.volume_size)
    if preset.native:
        _check_native(spec, dataset, method_cls)
    defense.check(DefenseSetup(dataset, spec.dataset, preset, victim))  # each its own rules
    method = method_cls(spec.epsilon, preset, **spec.method_params)  # checked by Method
    return Resolved(dataset, preset, method, victim, defense)


def _check_native(spec: RunSpec, dataset: Dataset, method_cls: type[Method]) -> None:
    """A native preset needs a dataset that yields cases at their own grid and a method that
    protects them there; either refusing is a clear error, never a silent resize."""
    if not dataset.supports_native:
        raise ValueError(f"dataset {spec.dataset!r} has no native grid; preset "
                         f"{spec.preset!r} needs one (use a cube preset)")
    if not method_cls.supports_native:
        raise ValueError(f"method {spec.method!r} cannot protect cases at their own grid "
                         f"(preset {spec.preset!r} is native); use a cube preset such as "
                         "quick, or a method that can (`uebench list methods`)")


@dataclass
class _Prepared:
    """A resolved spec with its data split, context, protection key and budget."""

    r: Resolved
    split: Split
    data_fp: str
    ctx: RunContext
    protect_key: str
    budget: Budget


class Pipeline:
    """Runs specs against one cache folder and writes records under ``out/records``."""

    def __init__(self, out: Path, cache_root: Path | None = None, device: str = "auto",
                 progress: bool = True) -> None:
        retain_freed_memory()  # same results, 0.72x the CPU of a quick em run (allocator.py)
        self.out = Path(out)
        self.cache = StageCache(cache_root or self.out / "cache")
        self.data_cache = StageCache(default_cache_root()) if cache_root is None else self.cache
        self.device = resolve_device(device)
        self.progress = progress

    def _prepare(self, spec: RunSpec) -> _Prepared:
        r = resolve(spec)
        cases = load_cases(r.dataset, r.preset, self.data_cache)
        ctx = RunContext(r.preset, spec.seed, self.device, cases[0].image.shape[0],
                         r.dataset.n_classes, self.progress)
        data_fp = fingerprint(r.dataset, r.preset)
        split = preset_split(cases, r.preset)
        return _Prepared(r, split, data_fp, ctx,
                         protection_key(data_fp, r.method, spec.seed, r.preset),
                         r.method.budget(ctx))

    def stage(self, spec: RunSpec, name: str) -> None:
        """Compute (or find cached) one stage of ``spec``'s run: ``protect``, ``clean_victim``
        or ``protected_victim`` (which needs ``protect``; nothing when the protection changes
        no voxel, as the clean-trained victim is then the same stage), or ``data`` (the
        dataset only). A sweep runs independent stages in parallel processes, each stage once,
        then ``run`` assembles records from the cache."""
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; one of {', '.join(STAGES)}")
        p = self._prepare(spec)
        if name == "clean_victim":
            self._victim_stage(p.r, spec, p.data_fp, p.split, None, None, p.budget)
        elif name in ("protect", "protected_victim"):
            protection = self._protect(p.r.method, p.budget, _protected(p.split, p.r.preset),
                                       p.ctx, p.protect_key)
            if name == "protected_victim" and _changes(protection):
                self._victim_stage(p.r, spec, p.data_fp, p.split, protection, p.protect_key,
                                   p.budget)

    def run(self, spec: RunSpec) -> tuple[dict[str, Any], Path]:
        """Run ``spec`` end to end (reusing cached stages); returns the record and its path."""
        started = time.perf_counter()
        p = self._prepare(spec)
        r, split, data_fp, protect_key, budget = p.r, p.split, p.data_fp, p.protect_key, p.budget
        protection = self._protect(r.method, budget, _protected(split, r.preset), p.ctx,
                                   protect_key)
        clean = self._victim_stage(r, spec, data_fp, split, None, None, budget)
        protected = self._victim_stage(r, spec, data_fp, split, protection, protect_key, budget)
        record = records.assemble(
            spec.run_id(), asdict(spec),
            environment(self.device, plugins={**registry.origins(
                victim=victim_name(spec.victim), dataset=spec.dataset.partition(":")[0],
                **({} if spec.method == RELEASED else {"method": spec.method})),
                **defense_origins(spec.defense)}),
            protection.get("method", {**r.method.describe(), "budget": budget.describe()}),
            r.method.role,
            records.dataset_info(spec.dataset, r.dataset, data_fp, split, r.preset),
            r.preset.to_dict(), protection, clean, protected, time.perf_counter() - started,
            recipe=r.preset.victim_recipe.to_dict(r.preset.weight_decay),
            victim=r.victim.describe(r.preset))
        path = self.out / "records" / f"{record['run_id']}.json"
        write_json(path, record)
        return record, path

    def _protect(self, method: Method, budget: Budget, train: list[Case], ctx: RunContext,
                 key: str) -> dict[str, Any]:
        """Fit the method on ``train`` (the training split, and the val split where the
        preset's recipe protects it: ``_protected``), perturb every one of those cases, store
        the deltas; cached."""
        stats = self.cache.get_json("protect", key)
        arrays = self.cache.get_arrays("protect", key)
        if stats is not None and arrays is not None:
            return {**stats, "deltas": arrays, "from_cache": True}
        seed_everything(ctx.seed)
        _reset_peak_memory(ctx.device)
        start = time.perf_counter()
        method.fit(train, ctx)
        fitted = time.perf_counter()
        deltas, rows = {}, []
        for case in tqdm(train, desc=f"{method.name}: protecting", disable=not ctx.progress,
                         leave=False):
            raw = np.asarray(method.perturb(case, ctx), dtype=np.float32)
            what, image = f"{method.name} on {case.id}", case.image
            stored = budget.store(image, raw, what)
            protected = budget.release(image, stored, what)
            deltas[case.id] = stored
            rows.append(fidelity(image, protected, case.foreground))
        done = time.perf_counter()
        perturb_s, voxels = done - fitted, sum(c.image[0].size for c in train)
        stats = {
            "method": {**method.describe(), "budget": budget.describe()},  # after fit
            "fidelity": {**mean_fidelity(rows), "measured_on": "stored form",
                         "budget": budget.describe()},
            "throughput": {
                "device": environment(ctx.device)["device"],
                "fit_seconds": fitted - start,
                "perturb_seconds": perturb_s,
                "wall_seconds": done - start,
                "volumes": len(train),
                "volumes_per_second": len(train) / max(done - start, 1e-9),
                "voxels_per_second": voxels / max(done - start, 1e-9),
                "perturb_volumes_per_second": len(train) / max(perturb_s, 1e-9),
                **_peak_memory(ctx.device),
                "calibration_seconds": calibration.calibration_seconds(ctx.device),
            },
        }
        self.cache.put_arrays("protect", key, deltas)
        self.cache.put_json("protect", key, stats)
        return {**stats, "deltas": deltas}

    def _victim_stage(self, r: Resolved, spec: RunSpec, data_fp: str, split, protection,
                      protect_key: str | None, budget: Budget) -> dict[str, Any]:
        """Train the victim on the (protected, defended) train split; evaluate on clean test."""
        changed = protection is not None and _changes(protection)
        defended = spec.defense != NONE
        training_set = {"protection": protect_key if changed else None,
                        "defense": spec.defense if (protection is not None and defended) else None}
        in_channels = len(split.train[0].image)
        seed_everything(spec.seed)  # the victim's initial weights depend on the seed only
        model = r.victim.build(in_channels, r.dataset.n_classes, r.preset)
        key = victim_key(data_fp, spec.victim, model, r.preset, spec.seed, training_set)
        cached = self.cache.get_json("victim", key)
        if cached is not None:
            return {**cached, "from_cache": True}
        defense_rng = np.random.default_rng([spec.seed, 1])
        under_defense = training_set["defense"] is not None
        setup = DefenseSetup(r.dataset, spec.dataset, r.preset, r.victim)
        kept_clean = (r.defense.clean_cases([c.id for c in split.train], spec.seed)
                      if under_defense else set())
        grid = r.defense.grid(setup) if under_defense else None  # None: the protection grid
        ctx = self._defense_context(setup, spec, split, grid, model, in_channels)

        def attacker_copies(cases: list[Case]) -> tuple[list[np.ndarray], list[np.ndarray]]:
            """The cases as the attacker trains on them (released, read, defended, on the
            attacker's grid)."""
            images, labels = [], []
            for case in cases:
                image = case.image
                if training_set["protection"] is not None and case.id not in kept_clean:
                    image = budget.release(image, protection["deltas"][case.id], case.id)
                label = case.label
                if under_defense:  # the attacker reads the release, then the data defenses
                    image = r.defense.read(image, case, ctx)
                    image, label = r.defense.apply(image, label, defense_rng)
                if grid is not None:  # the attacker's own grid
                    shape = regrid_shape(label.shape, *grid)
                    image = resample(image, shape, "trilinear")
                    label = np.rint(resample(label[None], shape, "nearest")[0]).astype(np.uint8)
                images.append(image)
                labels.append(label)
            return images, labels

        images, labels = attacker_copies(split.train)
        recipe = r.preset.victim_recipe
        select_by = None
        if recipe.protects_val:  # the authors' rule: the lowest loss on the protected val split
            val_images, val_labels = attacker_copies(split.val)
            window = (max(max(x.shape[1:]) for x in val_images) if grid is not None
                      and not r.preset.native else r.preset.volume_size)

            def select_by(m):
                return val_loss(m, val_images, val_labels, window, self.device)

        def monitor(m):
            return dsc_only(m, split.test, r.dataset, r.preset, self.device, grid)["dsc_fg_mean"]

        started = time.perf_counter()
        role = "clean" if training_set == {"protection": None, "defense": None} else "protected"
        hook = r.defense.hook if under_defense else None
        if hook is not None:  # the training-time defenses, seeded by the run
            r.defense.start(spec.seed)
        if not r.preset.native:  # whole volumes of one shape
            images, labels = np.stack(images), np.stack(labels)
        weights = r.defense.initial_weights(model, ctx) if under_defense else None
        if weights is not None:  # the attacker's own start
            model.load_state_dict(weights)
        validate = r.defense.validation(ctx) if under_defense else None  # the epoch's pick
        training = train_segmenter(model, images, labels, r.preset,
                                   spec.seed, self.device, desc=f"{spec.victim} ({role} data)",
                                   progress=self.progress, batch_loss=hook, validate=validate,
                                   recipe=recipe, monitor=monitor, select_by=select_by,
                                   lr=r.victim.learning_rate(r.preset))
        del images, labels  # the test cases are read one at a time, without the training set
        evaluation = evaluate(model, split.test, r.dataset, r.preset, self.device, grid)
        curve = training["test_dsc"]
        curve.update(last=evaluation["dsc_fg_mean"],
                     min=min((v for v in curve["values"] if v is not None), default=None),
                     at_val_loss_rule=None, selection=recipe.selection)
        selected = training.pop("selected_weights", None)
        if selected is not None:  # the authors' rule: the model of the lowest val loss
            model.load_state_dict(selected)
            at_rule = evaluate(model, split.test, r.dataset, r.preset, self.device, grid)
            curve["at_val_loss_rule"] = at_rule["dsc_fg_mean"]
            if recipe.selection == "protected-val-loss":
                evaluation = at_rule
        if kept_clean and training_set["protection"] is not None:
            training["kept_clean"] = sorted(kept_clean)  # the record names them
        training.update(ctx.record)  # what the defenses add
        result = {"training": training, "evaluation": evaluation, "training_set": training_set,
                  "wall_seconds": time.perf_counter() - started}
        self.cache.put_json("victim", key, result)
        return result


    def _defense_context(self, setup: DefenseSetup, spec: RunSpec, split: Split,
                         grid: tuple[float, int] | None, model: torch.nn.Module,
                         in_channels: int) -> DefenseContext:
        """What the defenses' hooks see of the training of ``model`` (``DefenseContext``)."""
        dataset, preset = setup.dataset, setup.preset

        def cohort_key(cohort: int) -> str:  # the clean victim's key on that cohort
            return victim_key(fingerprint(dataset, preset, cohort), spec.victim, model, preset,
                              spec.seed, {"protection": None, "defense": None})

        def train_on_cohort(cohort: int) -> torch.nn.Module:
            seed_everything(spec.seed)  # the run seed's initial weights
            trained = setup.victim.build(in_channels, dataset.n_classes, preset)
            train = preset_split(load_cases(dataset, preset, self.data_cache, cohort),
                                 preset).train
            images, labels = [c.image for c in train], [c.label for c in train]
            if not preset.native:
                images, labels = np.stack(images), np.stack(labels)
            train_segmenter(trained, images, labels, preset, spec.seed, self.device,
                            desc=f"{spec.victim} (pretraining, cohort {cohort})",
                            progress=self.progress, lr=setup.victim.learning_rate(preset))
            return trained

        def evaluate_at_grid(m: torch.nn.Module, cases: list[Case]) -> dict[str, Any]:
            return evaluate(m, cases, dataset, preset, self.device, grid)

        return DefenseContext(dataset, setup.dataset_name, preset, setup.victim,
                              seed=spec.seed, epsilon=spec.epsilon, val=split.val,
                              cache=self.cache, evaluate=evaluate_at_grid,
                              cohort_key=cohort_key, train_on_cohort=train_on_cohort)


def _protected(split: Split, preset: Preset) -> list[Case]:
    """The cases a protection covers: the training split, and the val split where the
    preset's recipe protects it (the authors poison train + val)."""
    return split.train + split.val if preset.victim_recipe.protects_val else split.train


def _changes(protection: dict[str, Any]) -> bool:
    """Whether a protection changes any stored voxel."""
    return any(delta.any() for delta in protection["deltas"].values())


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: torch.device) -> dict[str, float]:
    if device.type == "cuda":
        return {"peak_cuda_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}
    return {"peak_process_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
