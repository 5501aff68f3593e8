"""Augmentation training-time defenses: every training batch of the victim is randomly
transformed (MONAI transforms, seeded by the run)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from monai.transforms import Rand3DElasticd, RandAdjustContrast, RandAffined
from monai.utils import convert_to_tensor

from uebench.contracts.registry import register_defense
from uebench.runner.defense_chain import TrainingDefense


def _per_sample(x: torch.Tensor, y: torch.Tensor, transform) -> tuple[torch.Tensor, torch.Tensor]:
    """``transform(image [C, D, H, W], label [1, D, H, W]) -> (image, label)`` on each sample."""
    pairs = [transform(x[i], y[i]) for i in range(len(x))]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


@register_defense("gamma")
class RandomGamma(TrainingDefense):
    """MONAI ``RandAdjustContrast``: with probability ``prob`` per volume, intensities are
    rescaled to [0, 1] by the volume's min and max, raised to a gamma drawn uniformly in
    ``gamma`` and mapped back (monotone; the range stays within the volume's [min, max])."""

    summary = "random gamma in [0.7, 1.5] per volume, p 0.5 (MONAI RandAdjustContrast)"

    param_ranges = {"gamma": (0.0, None), "prob": (0.0, 1.0)}  # gamma 0 refused below

    def __init__(self, gamma: tuple[float, float] = (0.7, 1.5), prob: float = 0.5) -> None:
        if min(gamma) <= 0:
            raise ValueError(f"gamma: gamma must be > 0; got {tuple(gamma)}")
        self.transform = RandAdjustContrast(prob=prob, gamma=gamma)

    def _monai_transforms(self):
        return [self.transform]

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = [convert_to_tensor(self.transform(x[i]), track_meta=False) for i in range(len(x))]
        return torch.stack(out).to(x.dtype), y

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, *self.augment(x, y))


@register_defense("affine")
class RandomAffine(TrainingDefense):
    """MONAI ``RandAffined`` on image and label together (bilinear for the image, nearest for
    the label, zero padding): with probability ``prob`` per volume, a rotation about each of
    the three axes drawn in +-``rotate_deg`` degrees and a scale per axis drawn in ``scale``
    (MONAI's grid scale factors). ``affine-elastic`` uses ``Rand3DElasticd`` instead: the same
    affine plus a smooth elastic deformation (sigma 5-8 voxels, magnitude 100-200)."""

    summary = ("random 3D affine, rotation +-15 deg per axis, scale 0.85-1.25, p 0.5, image and "
               "label together (MONAI RandAffined; nearest for labels)")
    elastic: ClassVar[bool] = False

    param_ranges = {"rotate_deg": (0.0, 180.0), "scale": (0.0, None),  # scale 0 refused below
                    "prob": (0.0, 1.0)}

    def __init__(self, rotate_deg: float = 15.0, scale: tuple[float, float] = (0.85, 1.25),
                 prob: float = 0.5) -> None:
        if min(scale) <= 0:
            raise ValueError(f"{self.name}: scale factors must be > 0; got {tuple(scale)}")
        common = {"keys": ("image", "label"), "prob": prob,
                  "rotate_range": (np.deg2rad(rotate_deg),) * 3,
                  "scale_range": ((scale[0] - 1, scale[1] - 1),) * 3,
                  "mode": ("bilinear", "nearest"), "padding_mode": "zeros"}
        self.transform = (Rand3DElasticd(sigma_range=(5, 8), magnitude_range=(100, 200),
                                         **common)
                          if self.elastic else RandAffined(**common))

    def _monai_transforms(self):
        return [self.transform]

    def _one(self, image: torch.Tensor, label: torch.Tensor):
        out = self.transform({"image": image, "label": label.float()})
        return (convert_to_tensor(out["image"], track_meta=False).to(image.dtype),
                convert_to_tensor(out["label"], track_meta=False).round().to(label.dtype))

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _per_sample(x, y, self._one)

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, *self.augment(x, y))


@register_defense("affine-elastic")
class RandomAffineElastic(RandomAffine):
    summary = ("affine plus a smooth elastic deformation (MONAI Rand3DElasticd, sigma 5-8, "
               "magnitude 100-200), image and label together")
    elastic = True
