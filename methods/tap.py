"""TAP: targeted adversarial poisoning (Fowl et al., NeurIPS 2021, "Adversarial Examples Make
Strong Poisons").

A surrogate is trained on CLEAN data; each case then gets a targeted PGD perturbation that
minimises ``CE(f(x + delta), pi(y))`` with the label permutation ``pi(y) = (y + 1) mod K``,
signed steps of ``0.05 * eps``, random start, and the best of ``restarts`` tries per case
(classification used 250 steps and 8 restarts: the ``paper`` preset).

Dense adaptation, also written in every record: the target is a per-voxel map
``pi(y(v)) = (y(v) + 1) mod K``, cyclic over all K classes with background included
(background -> class 1, last class -> background); loss = voxel cross-entropy.
The surrogate's clean pretraining follows the rule every surrogate-based method shares
(``uebench.kit.surrogates.FIT_RULE``): epochs until its train DSC on the clean training set reaches
``fit_dsc``, capped at ``max_surrogate_updates`` updates. The ``quick`` preset uses 40 steps,
1 restart and a 16-128-channel surrogate.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from uebench.contracts.core import Case, Preset, RunContext
from uebench.contracts.registry import register_method
from uebench.kit.poisoning import SurrogatePoison, pgd
from uebench.kit.surrogates import (
    FIT_RULE,
    FIT_RULE_RANGES,
    batches,
    fit_rule_params,
    max_iterations,
    surrogate_state,
)


def target_map(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The per-voxel target ``(y + 1) mod K`` (cyclic, background included)."""
    return (labels + 1) % n_classes


def _per_case_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target[:, 0], reduction="none").flatten(1).mean(1)


def _targeted_loss(model, x: torch.Tensor, target: torch.Tensor, delta: torch.Tensor):
    return _per_case_ce(model((x + delta).clamp(0, 1)), target).sum()


@register_method("tap")
class TargetedAdversarialPoisoning(SurrogatePoison):
    """TAP: targeted PGD toward a cyclic per-voxel label permutation, clean surrogate."""

    summary = "TAP (Fowl et al. 2021): targeted PGD to (y+1) mod K, dense adaptation"
    deviations = ("dense adaptation: per-voxel target (y+1) mod K incl. background, voxel CE; "
                  "surrogate pretraining epochs by the " + FIT_RULE + "; quick preset: 40 "
                  "steps, 1 restart, 16-128-channel surrogate")
    conformance_params = {"max_surrogate_updates": 2, "steps": 2,
                          "surrogate_channels": "8-16-32"}
    param_ranges = {**FIT_RULE_RANGES, "steps": (1, None), "restarts": (1, None),
                    "step_fraction": (0.0, 1.0), "batch_size": (1, None),
                    "surrogate_lr": (0.0, None)}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        paper = preset.name == "paper"
        return {**fit_rule_params(preset), "steps": 250 if paper else 40,
                "restarts": 8 if paper else 1, "step_fraction": 0.05,
                "batch_size": 8 if paper else 2,
                "surrogate_channels": "32-64-128-256-512" if paper else "16-32-64-128",
                "surrogate_lr": 5e-4 if paper else 2e-3}

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        p = self.params
        generator, images, labels, surrogate = self._prepare(train_cases, ctx)
        steps_per_epoch = -(-len(images) // p["batch_size"])
        self.history: list[dict[str, float | str]] = []
        for epoch in range(max_iterations(steps_per_epoch, p)):
            loss = surrogate.train(images, labels, None, steps_per_epoch, p["batch_size"],
                                   generator)
            dsc = surrogate.train_dice(images, labels, None, p["batch_size"])
            self.history.append({"stage": "clean pretraining", "epoch": epoch + 1,
                                 "surrogate_loss": loss.item(), "surrogate_train_dsc": dsc})
            if dsc >= p["fit_dsc"]:
                break
        self.fitted_surrogate = surrogate_state(surrogate.updates, dsc, p)
        self.deltas = torch.zeros_like(images)
        step = p["step_fraction"] * self.epsilon
        final = torch.zeros(len(images), device=ctx.device)
        with surrogate.frozen() as model:
            for idx in tqdm(batches(len(images), p["batch_size"], generator),
                            desc=f"{self.name}: targeted PGD", disable=not ctx.progress,
                            leave=False):
                idx = idx.to(ctx.device)
                x, target = images[idx], target_map(labels[idx], ctx.n_classes)
                best = torch.full((len(idx),), float("inf"), device=ctx.device)
                for _ in range(p["restarts"]):
                    start = (torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1)
                    delta = pgd(partial(_targeted_loss, model, x, target), start * self.epsilon,
                                p["steps"], step, self.epsilon)
                    with torch.no_grad():
                        loss = _per_case_ce(model((x + delta).clamp(0, 1)), target)
                    better = loss < best
                    self.deltas[idx[better]] = delta[better]
                    best = torch.where(better, loss, best)
                final[idx] = best
        self.history.append({"stage": "targeted PGD", "targeted_ce_mean": final.mean().item()})

