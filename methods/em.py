"""EM: error-minimising noise (Huang et al., ICLR 2021, "Unlearnable Examples").

Min-min: ``min_delta min_theta sum_i L(f_theta(x_i + delta_i), y_i)``. Each round trains the
surrogate for a few batches on ``x + delta``, then sweeps the training set updating delta by
signed descent ``delta <- clip(delta - alpha * sign(grad), -eps, eps)``; it stops when the
surrogate's train DSC on the perturbed data passes a threshold (the paper's stop rule), capped.
Zero init.

Dense (3D segmentation) adaptation, also written in every record: loss = voxel DiceCE (MONAI),
stop criterion = surrogate train foreground DSC >= ``fit_dsc`` (classification used 1 % error),
the rule every surrogate-based method shares (``uebench.kit.surrogates.FIT_RULE``: a round is
``surrogate_batches`` surrogate updates, the cap is ``max_surrogate_updates``); per round the
VoxShield repository's 3D schedule (10 signed steps per batch, 20 surrogate batches; that
repository stopped after 3 rounds) with the step ``alpha = eps / 8`` (1/255 at 8/255).
- ``em``: sample-wise, one delta per case;
- ``em-classwise``: one pattern ``P_c`` per label class, ``delta(v) = P_{y(v)}(v)``, the dense
  analogue of class-wise noise (a label-correlated texture).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from uebench.contracts.core import Case, Preset, RunContext
from uebench.contracts.registry import register_method
from uebench.kit.poisoning import Surrogate, SurrogatePoison, class_pattern_delta, pgd
from uebench.kit.surrogates import (
    FIT_RULE,
    batches,
    case_tensors,
    fit_rule_params,
    max_iterations,
    surrogate_state,
)

DEVIATIONS = ("dense adaptation: voxel DiceCE, stop on surrogate train DSC; VoxShield-repo 3D "
              "round (10 steps/batch, 20 surrogate batches/round), step eps/8; rounds by the "
              + FIT_RULE + "; quick preset: surrogate 16-128 channels")


class _ErrorMinimising(SurrogatePoison):
    deviations = DEVIATIONS
    conformance_params = {"max_surrogate_updates": 2, "surrogate_batches": 2, "steps": 2,
                          "surrogate_channels": "8-16-32"}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        paper = preset.name == "paper"
        return {**fit_rule_params(preset), "surrogate_batches": 20, "steps": 10,
                "step_fraction": 1 / 8, "batch_size": 8 if paper else 2,
                "surrogate_channels": "32-64-128-256-512" if paper else "16-32-64-128",
                "surrogate_lr": 5e-4 if paper else 2e-3}

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        p = self.params
        generator, images, labels, surrogate = self._prepare(train_cases, ctx)
        self._init_noise(images, ctx)
        self.history: list[dict[str, float]] = []
        step = p["step_fraction"] * self.epsilon
        rounds = max_iterations(p["surrogate_batches"], p)
        for round_index in tqdm(range(rounds), desc=f"{self.name}: rounds",
                                disable=not ctx.progress, leave=False):
            loss = self._train_surrogate(surrogate, images, labels, generator)
            with surrogate.frozen() as model:
                for idx in batches(len(images), p["batch_size"], generator):
                    idx = idx.to(ctx.device)
                    self._sweep(model, surrogate.loss_fn, images[idx], labels[idx], idx, step)
            dsc = surrogate.train_dice(images, labels, self._all_deltas(labels), p["batch_size"])
            self.history.append({"round": round_index + 1, "surrogate_loss": loss.item(),
                                 "surrogate_train_dsc": dsc})
            if dsc >= p["fit_dsc"]:
                break
        self.fitted_surrogate = surrogate_state(surrogate.updates, dsc, p)

    def _train_surrogate(self, surrogate: Surrogate, images: torch.Tensor, labels: torch.Tensor,
                         generator: torch.Generator) -> torch.Tensor:
        """One round's surrogate training on the perturbed data (the inner min)."""
        return surrogate.train(images, labels, self._all_deltas(labels),
                               self.params["surrogate_batches"], self.params["batch_size"],
                               generator)

    def _init_noise(self, images: torch.Tensor, ctx: RunContext) -> None:
        raise NotImplementedError

    def _all_deltas(self, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sweep(self, model, loss_fn, x, y, idx, step) -> None:
        raise NotImplementedError


@register_method("em")
class ErrorMinimising(_ErrorMinimising):
    """EM, sample-wise: one error-minimising delta per case (min-min, signed descent)."""

    summary = "EM sample-wise (Huang et al. 2021), dense DiceCE adaptation"

    def _init_noise(self, images, ctx):
        self.deltas = torch.zeros_like(images)

    def _all_deltas(self, labels):
        return self.deltas

    def _sweep(self, model, loss_fn, x, y, idx, step):
        self.deltas[idx] = pgd(lambda d: loss_fn(model((x + d).clamp(0, 1)), y),
                               self.deltas[idx], self.params["steps"], step, self.epsilon)


@register_method("em-classwise")
class ErrorMinimisingClassWise(_ErrorMinimising):
    """EM, class-wise: one error-minimising pattern per label class, placed at its voxels."""

    summary = "EM class-wise: one pattern per label class (dense analogue)"

    def _init_noise(self, images, ctx):
        self.patterns = torch.zeros((ctx.n_classes, *images.shape[1:]), device=images.device)

    def _all_deltas(self, labels):
        return class_pattern_delta(self.patterns, labels)

    def _sweep(self, model, loss_fn, x, y, idx, step):
        def loss_of(patterns):
            return loss_fn(model((x + class_pattern_delta(patterns, y)).clamp(0, 1)), y)

        self.patterns = pgd(loss_of, self.patterns, self.params["steps"], step, self.epsilon)

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        _, label = case_tensors([case], ctx.device)
        return class_pattern_delta(self.patterns, label)[0].cpu().numpy()
