"""UEraser (Qin et al. 2023): heavy augmentation with the worst of several draws per sample."""

from __future__ import annotations

import torch
from monai.transforms import (
    Compose,
    RandAdjustContrast,
    RandBiasField,
    RandGaussianNoise,
    RandHistogramShift,
)
from monai.utils import convert_to_tensor

from uebench.contracts.registry import register_defense
from uebench.kit.adversarial import random_flip
from uebench.runner.defense_chain import TrainingDefense


@register_defense("ueraser")
class UEraser(TrainingDefense):
    """UEraser (Qin et al. 2023, "Learning the Unlearnable"): heavy random augmentation, and
    the loss of each training sample is the largest over ``repeats`` augmented draws of it
    (r = 5, the paper's UEraser-Max). One draw, per volume:

    - a random flip along each spatial axis (p 0.5 each) and a random multiple of 90 degrees in
      the axial plane, of image and label together;
    - MONAI ``RandBiasField`` (degree 3, coefficients 0-0.3, p 0.5): a smooth multiplicative
      field, standing in for the paper's plasma brightness;
    - MONAI ``RandHistogramShift`` (5-10 control points, p 0.5): a random monotone intensity
      curve, standing in for plasma contrast;
    - MONAI ``RandAdjustContrast`` (gamma 0.5-2, p 0.5);
    - MONAI ``RandGaussianNoise`` (std up to 0.05, p 0.5).

    The paper's channel shuffle is left out (MRI modalities are not interchangeable colour
    channels). The draws are scored without gradients; the chosen draw of every sample is then
    run again with gradients, so memory stays that of one draw (for a network whose samples do
    not interact, such as the instance-normed victims, the batch loss is then the mean over
    samples of the per-sample maximum). ``last_draw_losses [B, repeats]`` keeps the scores.
    """

    summary = ("heavy random augmentation (flips, rot90, bias field, histogram shift, gamma, "
               "noise); loss = max over r=5 draws per sample (Qin et al. 2023)")

    param_ranges = {"repeats": (1, None)}

    def __init__(self, repeats: int = 5) -> None:
        self.repeats = repeats
        self.intensity = Compose([
            RandBiasField(degree=3, coeff_range=(0.0, 0.3), prob=0.5),
            RandHistogramShift(num_control_points=(5, 10), prob=0.5),
            RandAdjustContrast(gamma=(0.5, 2.0), prob=0.5),
            RandGaussianNoise(std=0.05, prob=0.5),
        ])
        self.last_draw_losses: torch.Tensor | None = None

    def _monai_transforms(self):
        return [self.intensity]

    def draw(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One augmented draw of a one-sample batch ``x [1, C, D, H, W]``, ``y [1, 1, ...]``."""
        x, y = random_flip(x, y, self.generator)
        if x.shape[-1] == x.shape[-2]:
            k = int(torch.randint(4, (), generator=self.generator))
            x, y = torch.rot90(x, k, dims=(-2, -1)), torch.rot90(y, k, dims=(-2, -1))
        image = convert_to_tensor(self.intensity(x[0]), track_meta=False).to(x.dtype)
        return image[None].contiguous(), y.contiguous()

    def batch_loss(self, model, x, y, loss_fn):
        chosen_x, chosen_y, scores = [], [], []
        for i in range(len(x)):
            draws = [self.draw(x[i : i + 1], y[i : i + 1]) for _ in range(self.repeats)]
            with torch.no_grad():
                losses = torch.stack([loss_fn(model, xd, yd).detach() for xd, yd in draws])
            best = int(losses.argmax())
            chosen_x.append(draws[best][0])
            chosen_y.append(draws[best][1])
            scores.append(losses)
        self.last_draw_losses = torch.stack(scores)
        return loss_fn(model, torch.cat(chosen_x), torch.cat(chosen_y))
