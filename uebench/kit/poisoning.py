"""Pieces the surrogate-based poisons share (EM, TAP, slice-wise UE): a surrogate that trains on
perturbed data, signed-gradient steps projected to the eps-ball, and class-wise patterns.

Tensors are ``[N, C, *spatial]`` with labels ``[N, 1, *spatial]``; 2D and 3D work alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from uebench.contracts.core import Case, Method, RunContext
from uebench.kit.surrogates import Surrogate, case_tensors, parse_channels
from uebench.runner.training import seed_everything


def signed_step(delta: torch.Tensor, gradient: torch.Tensor, step: float, epsilon: float,
                descend: bool = True) -> torch.Tensor:
    """One signed-gradient step (descent by default) projected to ``[-eps, eps]``."""
    direction = -1.0 if descend else 1.0
    return (delta + direction * step * gradient.sign()).clamp(-epsilon, epsilon).detach()


def class_pattern_delta(patterns: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``delta(v) = P_{y(v)}(v)``: patterns ``[K, C, *spatial]``, labels ``[N, 1, *spatial]``."""
    one_hot = F.one_hot(labels[:, 0].long(), patterns.shape[0]).movedim(-1, 1).float()
    return torch.einsum("nk...,kc...->nc...", one_hot, patterns)


def pgd(loss_of: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, steps: int,
        step: float, epsilon: float, descend: bool = True) -> torch.Tensor:
    """``steps`` signed-gradient steps on ``loss_of(delta)``, projected to the eps-ball."""
    delta = start.detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss_of(delta), delta)
        delta = signed_step(delta, gradient, step, epsilon, descend)
    return delta


class SurrogatePoison(Method):
    """Base of the methods that craft one delta per training case against a surrogate
    (EM, TAP and their slice-wise forms): seeded set-up, per-case lookup in ``perturb``."""

    norm = "linf"
    spatial_dims = 3

    def _tensors(self, cases: list[Case], device: torch.device) -> tuple[torch.Tensor, ...]:
        """Training images and labels as the surrogate sees them (3D volumes here)."""
        return case_tensors(cases, device)

    def _start(self, train_cases: list[Case], ctx: RunContext
               ) -> tuple[torch.Generator, Surrogate]:
        """Seed, case index and a fresh surrogate for ``fit``."""
        p = self.params
        seed_everything(ctx.seed)
        generator = torch.Generator().manual_seed(ctx.seed)
        self.case_index = {c.id: i for i, c in enumerate(train_cases)}
        surrogate = Surrogate(self.spatial_dims, ctx.in_channels, ctx.n_classes,
                              parse_channels(p["surrogate_channels"]), p["surrogate_lr"],
                              ctx.device)
        return generator, surrogate

    def _prepare(self, train_cases: list[Case], ctx: RunContext):
        """``_start`` and the training tensors (``_tensors``) for ``fit``."""
        generator, surrogate = self._start(train_cases, ctx)
        images, labels = self._tensors(train_cases, ctx.device)
        return generator, images, labels, surrogate

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        if case.id not in self.case_index:
            raise ValueError(f"{self.name} optimises one delta per training case; {case.id!r} "
                             "was not in fit")
        return self._case_delta(self.case_index[case.id]).cpu().numpy()

    def _case_delta(self, index: int) -> torch.Tensor:
        return self.deltas[index]

    def describe(self) -> dict[str, Any]:
        described = {**super().describe(), "history": getattr(self, "history", [])}
        if hasattr(self, "fitted_surrogate"):  # after fit only: the unfitted form is a cache key
            described["surrogate"] = self.fitted_surrogate
        return described
