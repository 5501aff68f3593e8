"""The plugin contracts: cases, presets, and the Method / Victim / Dataset / Defense bases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from uebench.contracts.budget import Budget, LinfBudget
from uebench.contracts.params import check, from_defaults
from uebench.contracts.recipes import DEFAULT as DEFAULT_RECIPE
from uebench.contracts.recipes import Recipe, get_recipe


@dataclass
class Case:
    """One subject: image ``[C, D, H, W]`` float32 in [0, 1] (D = axial z), label ``[D, H, W]``."""

    id: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def foreground(self) -> np.ndarray:
        """Boolean mask of the labelled voxels (label > 0), ``[D, H, W]``."""
        return self.label > 0


GRIDS = ("cube", "native")  # how cases reach the network (``Preset.grid``)
# Preset fields written (to_dict) only when they differ from these defaults
OPTIONAL_FIELDS = {"split_pool": None, "grid": "cube", "target_spacing": None,
                   "patches_per_case": 1, "recipe": DEFAULT_RECIPE,
                   "iterations_per_epoch": None, "test_dsc_every": None}


@dataclass(frozen=True)
class Preset:
    """Sizes and schedules for one compute budget (``quick`` on 2 CPU cores, ``paper`` on GPUs).

    ``grid`` says how cases reach the network. ``"cube"`` (the paper's whole-volume protocol):
    every case resized to ``volume_size``^3, victims train on whole volumes. ``"native"`` (the
    field's way): cases keep their own grid (resampled to ``target_spacing`` mm isotropic when
    it is set, as nnU-Net does), victims train on random ``volume_size``^3 patches and are
    evaluated by sliding-window inference over whole volumes; ``volume_size`` is then the patch
    edge and ``patches_per_case`` the patches drawn from each case in each round over the
    cases. ``iterations_per_epoch`` (native only; nnU-Net's rule): an epoch is that many
    batches, rounds over the cases repeated or cut to fill them, whatever the folder's size
    (None: one round). ``test_dsc_every``: how often (epochs) a victim's training logs the
    clean test DSC (None: about ten times, ``uebench.runner.training.monitor_every``)."""

    name: str
    volume_size: int
    n_cases: int
    epochs: int
    batch_size: int
    lr: float = 5e-4
    weight_decay: float = 0.0
    victim_scale: str = "small"
    split: tuple[int, int, int] | None = None  # (train, val, test) counts; None = 70/15/15
    # the shared surrogate fit rule's cap (uebench.kit.surrogates.FIT_RULE): the surrogate
    # updates a surrogate-based method may take before its surrogate reaches fit_dsc
    surrogate_updates: int = 1000
    # the seeded split's pool (with ``split``): the first split_pool cases are shuffled and cut
    # into val, test and the first training cases as a preset of that many cases would cut
    # them; the cases after the pool join the training split. None: one pool of all cases.
    # It grows the training split while keeping val and test (the scale study's case axis).
    split_pool: int | None = None
    grid: str = "cube"  # "cube" | "native"
    target_spacing: float | None = None  # native only: resample to this isotropic spacing (mm)
    patches_per_case: int = 1  # native only
    recipe: str = DEFAULT_RECIPE  # how victims train (uebench.contracts.recipes)
    iterations_per_epoch: int | None = None  # native only
    test_dsc_every: int | None = None

    def __post_init__(self) -> None:
        get_recipe(self.recipe)  # an unknown recipe is refused with the close matches
        if self.split is not None and sum(self.split) != self.n_cases:
            raise ValueError(f"preset {self.name!r}: split {self.split} does not add up to "
                             f"n_cases={self.n_cases}")
        if self.split_pool is not None and (
                self.split is None or not sum(self.split[1:]) <= self.split_pool <= self.n_cases):
            raise ValueError(f"preset {self.name!r}: split_pool {self.split_pool} needs a split "
                             f"whose val and test fit in the pool, and at most "
                             f"n_cases={self.n_cases}")
        if self.grid not in GRIDS:
            raise ValueError(f"preset {self.name!r}: grid must be one of {', '.join(GRIDS)}; "
                             f"got {self.grid!r}")
        if self.grid == "cube" and (self.target_spacing is not None
                                    or self.patches_per_case != 1):
            raise ValueError(f"preset {self.name!r}: target_spacing and patches_per_case "
                             "apply to the native grid only")
        if self.target_spacing is not None and self.target_spacing <= 0:
            raise ValueError(f"preset {self.name!r}: target_spacing must be > 0 mm")
        if self.patches_per_case < 1:
            raise ValueError(f"preset {self.name!r}: patches_per_case must be >= 1")
        if self.iterations_per_epoch is not None and (self.grid != "native"
                                                      or self.iterations_per_epoch < 1):
            raise ValueError(f"preset {self.name!r}: iterations_per_epoch must be >= 1 and "
                             "applies to the native grid only")
        if self.test_dsc_every is not None and self.test_dsc_every < 1:
            raise ValueError(f"preset {self.name!r}: test_dsc_every must be >= 1")

    @property
    def victim_recipe(self) -> Recipe:
        """The recipe victims train by under this preset."""
        return get_recipe(self.recipe)

    @property
    def native(self) -> bool:
        """Whether cases keep their own grid (patch training, sliding-window inference)."""
        return self.grid == "native"

    def to_dict(self) -> dict[str, Any]:
        """The preset's values (part of every cache key and record); ``split_pool``, the
        native grid's fields and ``recipe`` only when they differ from their defaults, so
        presets without them keep the keys and records they had before the fields (no
        ``grid``: the cube; no ``recipe``: ``uebench``)."""
        return {name: value for name, value in self.__dict__.items()
                if name not in OPTIONAL_FIELDS or value != OPTIONAL_FIELDS[name]}


@dataclass
class RunContext:
    """What a method needs to know about the run it serves."""

    preset: Preset
    seed: int
    device: torch.device
    in_channels: int
    n_classes: int
    progress: bool = True


class Method:
    """A protection method: ``fit`` on the training cases, then ``perturb`` each case.

    ``perturb`` returns a delta of the image's shape. The harness (not the method) clamps
    ``x + delta`` to [0, 1], checks the budget, stores the delta (int8 for L-inf) and re-checks
    the budget on the stored form. The budget is L-inf ``epsilon`` unless ``budget`` says
    otherwise (a method defined under another norm, such as OPS under L0).

    ``role`` says what the boards make of its rows: ``"protection"`` (a method under test),
    ``"control"`` (noise that no protection should fail to beat), ``"matched-control"`` (the
    control each protection is tested against, cell by cell) or ``"reference"`` (no
    perturbation: the clean-trained reference itself, not a curve).
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = "protection"
    norm: ClassVar[str] = "linf"
    summary: ClassVar[str] = ""
    deviations: ClassVar[str] = ""
    # whether the method protects cases at their own grid (a native preset): per-case noise,
    # or a fit on patches; one that cannot is refused under a native preset, never resized
    supports_native: ClassVar[bool] = False
    # inclusive (low, high) of each numeric parameter (None: unbounded on that side), checked
    # with the types (``uebench.contracts.params``); a subclass extends its base's:
    # ``param_ranges = {**Base.param_ranges, "steps": (1, None)}``
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def __init__(self, epsilon: float, preset: Preset, **overrides: Any) -> None:
        defaults = self.default_params(preset)
        check(f"method {self.name!r}", from_defaults(defaults, self.param_ranges), overrides)
        self.epsilon = float(epsilon)
        self.preset = preset
        self.params: dict[str, Any] = {**defaults, **overrides}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        """Parameters and their defaults under ``preset``; overrides must name one of these."""
        return {}

    def budget(self, ctx: RunContext) -> Budget:
        """The bound the harness enforces on this method's deltas."""
        return LinfBudget(self.epsilon)

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        """Train whatever the method needs (surrogates, generators); nothing by default."""

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        """The perturbation for ``case``, same shape as ``case.image``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the run record says about the method."""
        return {
            "name": self.name,
            "norm": self.norm,
            "epsilon": self.epsilon,
            "params": dict(self.params),
            "deviations": self.deviations,
        }


class Victim:
    """A segmentation network an unauthorised user would train on the released data."""

    name: ClassVar[str] = ""
    spatial_dims: ClassVar[int] = 3
    min_size: ClassVar[int] = 16
    size_multiple: ClassVar[int] = 16
    # inclusive (low, high) of each numeric parameter (None: unbounded on that side), checked
    # with the types (``uebench.contracts.params``); a subclass extends its base's:
    # ``param_ranges = {**Base.param_ranges, "steps": (1, None)}``
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        raise NotImplementedError

    def describe(self, preset: Preset) -> dict[str, Any]:
        """What the record says about the victim under ``preset`` (``activation``: the
        network's own unless the victim takes the recipe's)."""
        return {"name": self.name, "activation": "the network's own"}

    def learning_rate(self, preset: Preset) -> float:
        """The Adam learning rate this victim trains at: the preset's, unless the victim
        deviates (then ``describe`` says so and the victim's spelling names it)."""
        return preset.lr

    def check_size(self, size: int) -> None:
        """Raise a clear error when volumes of edge ``size`` cannot go through this network."""
        if size < self.min_size or size % self.size_multiple:
            raise ValueError(
                f"victim {self.name!r} needs volumes of at least {self.min_size} voxels per "
                f"edge and a multiple of {self.size_multiple}; got {size}"
            )


class Dataset:
    """A cohort of cases, deterministic from a seed, with class names and evaluation regions."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    class_names: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    regions: dict[str, tuple[int, ...]] = {}
    # whether ``build`` can yield cases at their own grid (a native preset)
    supports_native: ClassVar[bool] = False

    def build(self, preset: Preset, seed: int) -> list[Case]:
        """The cohort under ``preset``: cubes of ``preset.volume_size``, or, under a native
        preset (``supports_native``), each case at its own grid."""
        raise NotImplementedError

    def label(self) -> str:
        """The name boards show (never a local path)."""
        return self.name

    def identity(self) -> dict[str, Any]:
        """What identifies this dataset's content besides the preset (used in fingerprints)."""
        return {"name": self.name, "version": self.version}

    @property
    def n_classes(self) -> int:
        return len(self.class_names) + 1


class Defense:
    """A countermeasure against the protection, of one of two kinds (``kind``):

    - ``"data"``: a transform of each protected training volume (and its label), applied once
      before the victim trains (``apply``);
    - ``"training"``: a change to every training step of the victim (augmentation, adversarial
      training): ``batch_loss(model, x, y, loss_fn)`` returns the loss the step minimises,
      where ``loss_fn(model, x, y)`` is the loss of the rest of the step (the victim's DiceCE,
      or the next training-time defense of a combination) and ``x [B, C, D, H, W]``,
      ``y [B, 1, D, H, W]`` (long) are the batch after the victim's own augmentation.
      ``start(seed)`` is called once before training and seeds the defense's own draws (it
      never touches the global random state the defense-free training uses).

    The rest of the attacker's own pipeline (which cases it holds clean, how it reads a
    release, its grid, its initial weights, how it picks an epoch) are hooks of any defense,
    of either kind. The runner calls each hook on every defense of the run, in the chain's
    order (``uebench.runner.defense_chain.DefenseChain``), and each does nothing by default,
    so a defense implements only its own: an attacker capability is one defense file, and the
    runner knows no defense by name. Apart from ``check``, the hooks serve only the victim
    trained on the protected data under a defense (the clean-trained reference never sees
    them). ``setup`` is a ``defense_chain.DefenseSetup`` (the resolved dataset and its spec
    name, preset, victim); ``ctx`` a ``defense_chain.DefenseContext``, the setup plus that
    victim's training (seed, epsilon, clean val split, stage cache, callbacks, ``record``:
    what the defense adds to the record's training entry). In the order a run calls them:

    - ``check(setup)``: refuse a run the defense cannot model (a ValueError of one line),
      before any work;
    - ``clean_cases(case_ids, seed)``: the training cases the attacker holds clean copies of;
    - ``grid(setup)``: the grid the attacker trains and predicts at;
    - ``read(released, case, ctx)``: a training (and protected val) volume as the attacker
      reads it, before the data defenses transform it;
    - ``initial_weights(model, ctx)``: the weights the victim starts from;
    - ``validation(ctx)``: the score that picks the victim's epoch (early stopping).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    kind: ClassVar[str] = "data"  # "data" | "training"
    # inclusive (low, high) of each numeric parameter (None: unbounded on that side), checked
    # with the types (``uebench.contracts.params``); a subclass extends its base's:
    # ``param_ranges = {**Base.param_ranges, "steps": (1, None)}``
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def check(self, setup: Any) -> None:
        """Raise a ValueError of one line when the run ``setup`` describes is one this
        defense cannot model (``resolve`` calls it before anything is computed)."""

    def clean_cases(self, case_ids: list[str], seed: int) -> set[str]:
        """Training cases the attacker holds clean (unprotected) copies of: none by default; a
        data defense modelling partial protection names a seeded share of them."""
        return set()

    def grid(self, setup: Any) -> tuple[float, int] | None:
        """The grid the attacker works at, ``(factor, multiple)``: every training (and val)
        copy is resampled after the data defenses, and every test image for the prediction
        (scored back at its own grid), to each edge times ``factor`` rounded to a multiple of
        ``multiple`` (``uebench.runner.evaluation.regrid_shape``); None (the default): the
        grid the data was protected at. The first defense that gives one sets it."""
        return None

    def read(self, released: np.ndarray, case: Case, ctx: Any) -> np.ndarray:
        """The training volume ``released`` (``case.image`` with its stored delta, or the
        clean image for a case held clean) as the attacker reads it from the release, before
        the data defenses; ``case`` is the clean case. Unchanged by default."""
        return released

    def initial_weights(self, model: nn.Module, ctx: Any) -> dict[str, torch.Tensor] | None:
        """The state dict the victim ``model`` starts from instead of its seeded
        initialisation; None (the default): its own. The first defense that gives one sets
        it."""
        return None

    def validation(self, ctx: Any) -> Callable[[nn.Module], float] | None:
        """A score of the victim after each epoch (higher is better): the victim ends with
        the weights of its best epoch (``uebench.runner.training.train_segmenter``'s
        ``validate``); None (the default): the last epoch's. The first defense that gives one
        sets it."""
        return None

    def apply(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def start(self, seed: int) -> None:
        """Seed this defense's random draws for one training run (training-time defenses)."""

    def batch_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   loss_fn: BatchLoss) -> torch.Tensor:
        raise NotImplementedError


# ``loss_fn(model, x, y) -> scalar loss`` of one batch (the training-time defense protocol).
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
