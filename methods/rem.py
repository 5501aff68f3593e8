"""REM: robust error-minimising noise (Fu et al., ICLR 2022).

Min-min-max: ``min_{|delta_u| <= rho_u} min_theta E_T max_{|delta_a| <= rho_a}
L(f_theta(T(x + delta_u) + delta_a), y)``. The surrogate is adversarially trained (PGD within
``rho_a``) on the noisy data, and the noise is updated by signed descent on the loss at the
adversarial point, averaged over random transformations ``T`` (expectation over
transformation). ``rho_u`` is the run's eps and ``rho_a = adv_ratio * eps`` (the paper's
8/255 noise against 4/255 adversarial training is ``adv_ratio = 0.5``).

Dense (3D segmentation) adaptation, also written in every record: EM's dense loss, stop rule and
schedule (see ``em.py``); ``T`` = random flips along the three spatial axes, applied to image and
label alike (the paper used crops and flips of CIFAR images); the inner max is ``adv_steps``
signed steps of ``2.5 * rho_a / adv_steps`` from a uniform random start (Madry et al.) and is
held fixed while ``delta_u`` takes its step. The quick preset shortens the inner max to 2 steps
and uses 1 transformation per noise step; the paper preset uses 10 steps and 5 transformations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from uebench.contracts.core import Case, Preset, RunContext
from uebench.contracts.registry import register_method
from uebench.kit.adversarial import adversarial_delta, random_flip
from uebench.kit.patches import WholeVolumes
from uebench.kit.poisoning import Surrogate, pgd
from uebench.methods.em import DEVIATIONS, ErrorMinimising


@register_method("rem")
class RobustErrorMinimising(ErrorMinimising):
    """REM: sample-wise error-minimising noise against an adversarially trained surrogate."""

    summary = "REM (Fu et al. 2022): min-min-max against adversarial training, EOT over flips"
    deviations = (DEVIATIONS + "; REM: rho_a = adv_ratio * eps, EOT over random flips, inner "
                  "PGD held fixed during the noise step; quick: 2 inner steps, 1 EOT draw")
    conformance_params = {**ErrorMinimising.conformance_params, "adv_steps": 1}
    # adv_ratio: the adversary's radius as a share of eps (0: no adversary, plain EM)
    param_ranges = {**ErrorMinimising.param_ranges, "adv_ratio": (0.0, 1.0),
                    "adv_steps": (1, None), "eot_samples": (1, None)}
    supports_native = False  # its adversarial surrogate training takes stacked whole volumes

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        paper = preset.name == "paper"
        return {**super().default_params(preset), "adv_ratio": 0.5,
                "adv_steps": 10 if paper else 2, "eot_samples": 5 if paper else 1}

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        self.adv_radius = self.params["adv_ratio"] * self.epsilon
        self.draws = torch.Generator().manual_seed(ctx.seed + 1)
        super().fit(train_cases, ctx)

    def _adversarial(self, model: nn.Module, loss_fn, x: torch.Tensor,
                     y: torch.Tensor) -> torch.Tensor:
        return adversarial_delta(model, loss_fn, x.detach(), y, self.adv_radius,
                                 self.params["adv_steps"], self.draws)

    def _train_surrogate(self, surrogate: Surrogate, data: WholeVolumes,
                         generator: torch.Generator) -> torch.Tensor:
        def adversary(model, x, y):
            return (x + self._adversarial(model, surrogate.loss_fn, x, y)).clamp(0, 1)

        return surrogate.train(data.images, data.labels, self.deltas,
                               self.params["surrogate_batches"], self.params["batch_size"],
                               generator, adversary)

    def _sweep(self, model, loss_fn, batch, data, step):
        x, y, idx = batch.x, batch.y, batch.cases

        def loss_of(noise):
            losses = []
            for _ in range(self.params["eot_samples"]):
                image, label = random_flip((x + noise).clamp(0, 1), y, self.draws)
                attack = self._adversarial(model, loss_fn, image, label)
                losses.append(loss_fn(model((image + attack).clamp(0, 1)), label))
            return torch.stack(losses).mean()

        self.deltas[idx] = pgd(loss_of, self.deltas[idx], self.params["steps"], step,
                               self.epsilon)
