"""Adversarial training of the victim (Madry et al.), the counter to error-minimising noise."""

from __future__ import annotations

import torch
from torch import nn

from uebench.contracts.core import BatchLoss
from uebench.contracts.registry import register_defense
from uebench.kit.adversarial import adversarial_delta
from uebench.runner.defense_chain import TrainingDefense


@register_defense("adv-train")
class AdversarialTraining(TrainingDefense):
    """Madry et al.'s PGD adversarial training of the victim: each batch is replaced by the
    point ``x + delta``, ``|delta|_inf <= radius`` (4/255), found by ``steps`` (5) signed
    ascent steps of ``2.5 * radius / steps`` on the loss from a uniform random start (the
    kit's ``adversarial_delta``, as REM uses), and the step minimises the loss there. The point
    stays within ``[min(0, min x), max(1, max x)]`` (the victim's intensity augmentation may
    leave [0, 1]): for a batch in [0, 1] that is the usual clamp to [0, 1]. The ascent runs
    with the victim in training mode."""

    summary = ("PGD adversarial training (Madry): L-inf radius 4/255, 5 signed steps of "
               "2.5r/5 from a random start")
    # radius in the [0, 1] intensity space (0: plain training)
    param_ranges = {"radius": (0.0, 1.0), "steps": (1, None)}

    def __init__(self, radius: float = 4 / 255, steps: int = 5) -> None:
        self.radius = radius
        self.steps = steps

    def adversarial(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: BatchLoss) -> torch.Tensor:
        """The PGD-ascent batch, within ``radius`` of ``x``."""
        x = x.detach()
        low = torch.clamp(x.min(), max=0.0)
        span = torch.clamp(x.max(), min=1.0) - low
        unit = (x - low) / span  # in [0, 1], where adversarial_delta clamps
        delta = adversarial_delta(lambda v: low + span * v,  # back to x's units
                                  lambda v, label: loss_fn(model, v, label),
                                  unit, y, self.radius / float(span), self.steps,
                                  self.generator)
        return (low + span * (unit + delta).clamp(0, 1)).detach()

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, self.adversarial(model, x, y, loss_fn), y)
