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
``protect``'s writer does (its integer rounding left out), which isolates the writer's shrink."""

from __future__ import annotations

import numpy as np

from uebench.contracts.core import Defense
from uebench.contracts.registry import register_defense
from uebench.runner.defense_chain import TrainingDefense


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
        self.grid_factor = factor

    def apply(self, image, label, rng):
        return image, label  # the pipeline resamples (it knows the victim's size rule)


@register_defense("early-stop")
class EarlyStopping(TrainingDefense):
    summary = "keep the epoch with the best foreground DSC on the clean validation split"
    early_stopping = True

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, x, y)


@register_defense("pretrained")
class Pretrained(TrainingDefense):
    summary = "start from weights trained on a disjoint clean cohort (data seed 1), fine-tune"

    param_ranges = {"cohort": (0, None)}  # a data seed; 0 refused below: the run's own data

    def __init__(self, cohort: int = 1) -> None:
        if cohort == 0:
            raise ValueError("pretrained: cohort 0 is the run's own data; use another seed")
        self.pretrain_cohort = cohort

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, x, y)


@register_defense("renormalise")
class Renormalise(Defense):
    summary = ("the attacker z-scores each channel of each file again (clean 0 voxels kept 0): "
               "the reader's view of a release; budget=true: shrunk to eps as protect writes it")
    reads_files = True

    def __init__(self, budget: bool = False) -> None:
        self.reread_within_eps = budget  # true: the writer's shrink to eps, without rounding

    def apply(self, image, label, rng):
        return image, label  # the pipeline rereads (it holds the clean volume's zero voxels)
