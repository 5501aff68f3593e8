"""A data custodian's own release measured as a protection: ``uebench run --train-data
PROTECTED --test-data CLEAN`` trains the victim on the released (protected) folder and tests it
on the clean one.

The release enters the harness as the pseudo-method ``released``: its delta for a training case
is the released volume minus the clean one, both read and preprocessed by the same reader at the
run's preset. Everything downstream (budget check, fidelity, the clean-trained reference, the
test split) is then the ordinary pipeline's. Not registered: it needs a folder and is no
method a sweep could run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from uebench.contracts.budget import RELEASE_TOLERANCE, LinfBudget
from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.runner.data import load_cases, resolve_dataset
from uebench.runner.store import StageCache, default_cache_root

RELEASED = "released"


class ReleasedFolder(Method):
    """The delta a released folder (``data``: a dataset spec such as ``decathlon:PATH``)
    carries against the run's clean dataset, case by case (matched by case id)."""

    name = RELEASED
    summary = "a released folder measured against its clean original"
    supports_native = True  # read by the same reader at the run's grid, whichever it is
    deviations = ("not a method: the delta is read from a released folder; the harness "
                  "stores it as int8 at eps/127 like every L-inf delta, so the victim sees the "
                  "release to within eps/254 per voxel; a read-back delta up to eps x (1 + "
                  f"{RELEASE_TOLERANCE:g}), what protect admits after float32 "
                  "re-normalisation, is accepted and clipped to eps")

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        return {"data": None}

    def __init__(self, epsilon: float, preset: Preset, **overrides: Any) -> None:
        super().__init__(epsilon, preset, **overrides)
        if not self.params["data"]:
            raise ValueError("the released pseudo-method needs data=PATH (the released folder, "
                             "as a dataset spec such as decathlon:PATH)")
        self._released: dict[str, np.ndarray] = {}

    def budget(self, ctx: RunContext) -> LinfBudget:
        """L-inf ``eps``, admitting what ``uebench protect`` admits on a written file (its
        effective eps up to ``eps * (1 + RELEASE_TOLERANCE)``, float32 re-normalisation); the
        stored form the victim trains on is clipped to ``eps``."""
        return LinfBudget(self.epsilon, slack=self.epsilon * RELEASE_TOLERANCE)

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        """Read the released folder and keep the training cases' volumes."""
        released = {case.id: case for case in load_cases(
            resolve_dataset(self.params["data"]), self.preset, StageCache(default_cache_root()))}
        missing = [case.id for case in train_cases if case.id not in released]
        if missing:
            raise ValueError(f"the released folder {self.params['data']} has no case "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                             "of the clean folder's training split")
        for case in train_cases:
            image = released[case.id].image
            if image.shape != case.image.shape:
                raise ValueError(f"{case.id}: released volume {image.shape} != clean volume "
                                 f"{case.image.shape} after preprocessing")
            self._released[case.id] = image

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        return (self._released[case.id] - case.image).astype(np.float32)
