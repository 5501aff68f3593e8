"""Pieces of adversarial training that a method and a defense share: REM trains its surrogate
at the PGD point and averages over random flips; the ``adv-train`` and ``ueraser`` defenses
use the same PGD ascent and flips on the victim."""

from __future__ import annotations

import torch
from torch import nn

from uebench.kit.poisoning import pgd


def random_flip(image: torch.Tensor, label: torch.Tensor,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flip (each spatial axis with p 0.5) of a batch and of its labels."""
    dims = [d for d in range(2, image.ndim) if torch.rand((), generator=generator) < 0.5]
    return (image.flip(dims), label.flip(dims)) if dims else (image, label)


def adversarial_delta(model: nn.Module, loss_fn, image: torch.Tensor, label: torch.Tensor,
                      radius: float, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Madry's PGD ascent on the loss within ``[-radius, radius]``, from a uniform start."""
    start = (torch.rand(image.shape, generator=generator) * 2 - 1) * radius
    return pgd(lambda d: loss_fn(model((image + d).clamp(0, 1)), label),
               start.to(image.device), steps, 2.5 * radius / steps, radius, descend=False)
