"""The field's augmentation as a training-time defense: nnU-Net's default 3D data augmentation
(Isensee et al. 2021, its ``get_training_transforms``), rebuilt from MONAI transforms and
applied to every training batch of the victim, image and label together where the transform
is spatial.

In nnU-Net's order and with its probabilities per volume: rotation +-30 degrees about each
axis and scaling 0.7-1.4 (each p 0.2; one ``RandAffined``, so a volume drawn for either gets
both), Gaussian noise (variance up to 0.1, p 0.1), Gaussian blur (sigma 0.5-1, p 0.2),
multiplicative brightness 0.75-1.25 (p 0.15), simulated low resolution (zoom 0.5-1, p 0.25),
gamma 0.7-1.5 (p 0.3) and mirroring along each axis (p 0.5). Deviations: nnU-Net also varies
contrast (p 0.15) and draws rotation and scaling independently; intensities here stay in the
released data's [0, 1] range before the victim's own augmentation, as the other defenses'.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandScaleIntensityd,
    RandSimulateLowResolutiond,
)
from monai.utils import convert_to_tensor

from uebench.contracts.registry import register_defense
from uebench.runner.defense_chain import TrainingDefense


@register_defense("nnunet-aug")
class NnUNetAugmentation(TrainingDefense):
    """nnU-Net's default 3D augmentation on every training batch (see the module docstring);
    ``strength`` scales every transform's probability (1: nnU-Net's; capped at 1)."""

    summary = ("nnU-Net's default 3D augmentation: rotation, scaling, noise, blur, brightness, "
               "low resolution, gamma, mirroring (MONAI transforms, nnU-Net's probabilities)")
    param_ranges = {"strength": (0.0, 5.0)}

    def __init__(self, strength: float = 1.0) -> None:
        def p(probability: float) -> float:
            return min(1.0, probability * strength)

        both, image = ("image", "label"), ("image",)
        self.transform = Compose([
            RandAffined(keys=both, prob=p(0.2), rotate_range=(np.deg2rad(30),) * 3,
                        scale_range=((-0.3, 0.4),) * 3, mode=("bilinear", "nearest"),
                        padding_mode="zeros"),
            RandGaussianNoised(keys=image, prob=p(0.1), std=float(np.sqrt(0.1))),
            RandGaussianSmoothd(keys=image, prob=p(0.2), sigma_x=(0.5, 1.0),
                                sigma_y=(0.5, 1.0), sigma_z=(0.5, 1.0)),
            RandScaleIntensityd(keys=image, prob=p(0.15), factors=0.25),
            RandSimulateLowResolutiond(keys=image, prob=p(0.25), zoom_range=(0.5, 1.0)),
            RandAdjustContrastd(keys=image, prob=p(0.3), gamma=(0.7, 1.5)),
            *(RandFlipd(keys=both, prob=p(0.5), spatial_axis=axis) for axis in range(3)),
        ])

    def _monai_transforms(self):
        return [self.transform]

    def _one(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.transform({"image": image, "label": label.float()})
        return (convert_to_tensor(out["image"], track_meta=False).to(image.dtype),
                convert_to_tensor(out["label"], track_meta=False).round().to(label.dtype))

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [self._one(x[i], y[i]) for i in range(len(x))]
        return torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs])

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, *self.augment(x, y))
