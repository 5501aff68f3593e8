"""The attacker's own pipeline as defenses: what a real attacker does that the harness's
default victim does not. ``partial``: only a seeded share of the training cases is protected
(an attacker pooling the release with data of their own; APBench's poison-ratio axis);
``early-stop``: the victim keeps the weights of its best epoch on a small clean validation set
it holds (the run's val split), which undoes many poisons (arXiv 2204.08615); ``pretrained``:
the victim starts from weights trained on a disjoint clean cohort (the generated dataset with
another data seed, cached like any stage) and fine-tunes on the protected data, reported to
nullify existing UEs (arXiv 2603.04731); ``regrid``: the attacker works at another grid than
the one protected (every training case and, for the prediction, every test image resampled by
``factor`` per axis, trilinear; predictions scored back at the test case's own grid), the
realistic case of a different preprocessing; ``renormalise``: the attacker reads each protected
training volume from its file and z-scores every channel with that file's own statistics, the
field's preprocessing (``uebench.runner.reader_view``), so the victim sees what a release
written by ``uebench protect`` gives it rather than the delta the method made in memory;
``renormalise:budget=true`` also shrinks each channel's delta until that view is within eps, as
``protect``'s writer does (its integer rounding left out), which isolates the writer's shrink.

Each is one hook of ``uebench.contracts.core.Defense`` (the runner knows none of them by name):
``partial`` ``clean_cases``, ``early-stop`` ``validation``, ``pretrained`` ``initial_weights``,
``regrid`` ``grid``, ``renormalise`` ``read``; and ``check`` where a run cannot model it."""

from __future__ import annotations

import numpy as np
import torch

from uebench.contracts.core import Defense
from uebench.contracts.folders import NiftiFolder
from uebench.contracts.registry import register_defense
from uebench.runner.defense_chain import TrainingDefense
from uebench.runner.evaluation import regrid_shape
from uebench.runner.reader_view import reread, reread_within, zscored_channels


@register_defense("partial")
class PartialProtection(Defense):
    summary = "only a seeded share (fraction, default 0.5) of the training cases is protected"

    param_ranges = {"fraction": (0.0, 1.0)}

    def __init__(self, fraction: float = 0.5) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"partial: fraction must lie in [0, 1]; got {fraction}")
        self.fraction = fraction

    def clean_cases(self, case_ids: list[str], seed: int) -> set[str]:
        """The round((1 - fraction) * N) cases kept clean, drawn with the run's seed from the
        sorted ids (so the same cases whatever order they come in)."""
        ids = sorted(case_ids)
        keep = round((1.0 - self.fraction) * len(ids))
        chosen = np.random.default_rng([seed, 3]).choice(len(ids), size=keep, replace=False)
        return {ids[i] for i in chosen}

    def apply(self, image, label, rng):
        return image, label


@register_defense("regrid")
class Regrid(Defense):
    summary = "the attacker trains and predicts at factor x the protection grid (0.75 default)"

    param_ranges = {"factor": (0.0, None)}  # 0 refused below: no grid

    def __init__(self, factor: float = 0.75) -> None:
        if factor <= 0:
            raise ValueError(f"regrid: factor must be > 0; got {factor}")
        self.factor = factor

    def check(self, setup):
        """On a cube the regridded edge is rounded to the victim's size multiple; a factor
        that rounds back to the protection grid would train the attacker on it: refused."""
        if setup.preset.native:
            return
        edge, multiple = setup.preset.volume_size, setup.victim.size_multiple
        (regridded,) = regrid_shape((edge,), self.factor, multiple)
        if regridded == edge:
            raise ValueError(f"defense 'regrid:factor={self.factor}' leaves the {edge}^3 cube "
                             f"as it is (the victim's edges are multiples of {multiple}: {edge} "
                             f"x {self.factor} rounds to {regridded}); choose a factor that "
                             "moves the grid")

    def grid(self, setup):
        """``factor``, with the edge multiple the victim needs on a cube (any shape on the
        native grid)."""
        return (self.factor, 1 if setup.preset.native else setup.victim.size_multiple)

    def apply(self, image, label, rng):
        return image, label  # the runner resamples to ``grid`` after the data defenses


@register_defense("early-stop")
class EarlyStopping(TrainingDefense):
    summary = "keep the epoch with the best foreground DSC on the clean validation split"

    def check(self, setup):
        if setup.preset.victim_recipe.protects_val:
            raise ValueError(f"defense 'early-stop' selects the victim's epoch on a clean val "
                             f"split; preset {setup.preset.name!r}'s recipe "
                             f"{setup.preset.recipe!r} selects it by the loss on the protected "
                             "val split: use one selection rule")

    def validation(self, ctx):
        """The foreground DSC on the clean val split, at the attacker's grid (-1 when it is
        undefined, so that any defined epoch wins)."""
        def score(model):
            value = ctx.evaluate(model, ctx.val)["dsc_fg_mean"]
            return -1.0 if value is None else value
        return score

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, x, y)


@register_defense("pretrained")
class Pretrained(TrainingDefense):
    summary = "start from weights trained on a disjoint clean cohort (data seed 1), fine-tune"

    param_ranges = {"cohort": (0, None)}  # a data seed; 0 refused below: the run's own data

    def __init__(self, cohort: int = 1) -> None:
        if cohort == 0:
            raise ValueError("pretrained: cohort 0 is the run's own data; use another seed")
        self.cohort = cohort

    def check(self, setup):
        if isinstance(setup.dataset, NiftiFolder):
            raise ValueError(f"defense 'pretrained' needs a generated dataset (another cohort "
                             f"of subjects); {setup.dataset_name!r} is a local folder")

    def initial_weights(self, model, ctx):
        """The victim's weights after the preset's schedule on the clean training split of the
        cohort ``cohort`` (another data seed: other subjects), from the run seed's initial
        weights; cached in the stage cache (kind ``pretrained``) under that clean victim's
        key."""
        key = ctx.cohort_key(self.cohort)
        stored = ctx.cache.get_arrays("pretrained", key)
        if stored is None:
            trained = ctx.train_on_cohort(self.cohort)
            stored = {k: v.detach().cpu().numpy() for k, v in trained.state_dict().items()}
            ctx.cache.put_arrays("pretrained", key, stored)
        ctx.record["pretrained_on_cohort"] = self.cohort
        return {k: torch.from_numpy(np.asarray(v)) for k, v in stored.items()}

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, x, y)


@register_defense("renormalise")
class Renormalise(Defense):
    summary = ("the attacker z-scores each channel of each file again (clean 0 voxels kept 0): "
               "the reader's view of a release; budget=true: shrunk to eps as protect writes it")

    def __init__(self, budget: bool = False) -> None:
        self.budget = budget  # true: the writer's shrink to eps, without rounding

    def check(self, setup):
        if not any(zscored_channels(setup.dataset.modalities, 1)):
            raise ValueError(f"defense 'renormalise' models a reader that z-scores each "
                             f"channel; {setup.dataset_name!r} is CT (a fixed HU window), which "
                             "it reads as it is")

    def read(self, released, case, ctx):
        """The reader's view (``reader_view.reread``; with ``budget``, ``reread_within`` at
        the run's eps, and the record's ``reread_shrink`` the [min, max] of its factors over
        the z-scored channels read)."""
        channels = zscored_channels(ctx.dataset.modalities, len(released))
        if not self.budget:
            return reread(released, case.image, channels)
        view, factors = reread_within(released, case.image, channels, ctx.epsilon)
        shrinks = [f for f, zscored in zip(factors, channels) if zscored]
        if shrinks:
            low, high = ctx.record.get("reread_shrink", (min(shrinks), max(shrinks)))
            ctx.record["reread_shrink"] = [min(low, *shrinks), max(high, *shrinks)]
        return view

    def apply(self, image, label, rng):
        return image, label  # the view is ``read``'s, before the data defenses
