"""Seeded training of a segmentation network on whole volumes (victims and surrogates)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.transforms import Compose, RandScaleIntensity, RandShiftIntensity
from monai.utils import convert_to_tensor
from torch import nn
from tqdm.auto import tqdm

from uebench.contracts.core import BatchLoss, Preset

# Part of the victim cache key: bump when a change here changes what training produces.
TRAINING_VERSION = "1"

# ``hook(model, x, y, loss_fn) -> loss`` with ``loss_fn(model, x, y) -> loss``.
BatchLossHook = Callable[[nn.Module, torch.Tensor, torch.Tensor, BatchLoss], torch.Tensor]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def dice_ce_loss() -> DiceCELoss:
    """The reference code's segmentation loss."""
    return DiceCELoss(include_background=False, to_onehot_y=True, softmax=True)


def intensity_augmentation(seed: int) -> Compose:
    """Intensity-only augmentation (the reference: geometric off, intensity on)."""
    augment = Compose([RandScaleIntensity(factors=0.1, prob=0.5),
                       RandShiftIntensity(offsets=0.05, prob=0.5)])
    augment.set_random_state(seed=seed % 2**32)
    return augment


def train_segmenter(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    preset: Preset,
    seed: int,
    device: torch.device,
    desc: str = "training",
    progress: bool = True,
    batch_loss: BatchLossHook | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``images [N, C, D, H, W]`` / ``labels [N, D, H, W]`` with DiceCE and
    Adam for ``preset.epochs``; returns losses and seconds per epoch.

    ``batch_loss`` (a training-time defense, ``Defense.batch_loss``): each step minimises
    ``batch_loss(model, x, y, loss_fn)`` instead of ``loss_fn(model, x, y)``, the DiceCE of
    ``model(x)``, on the batch after the intensity augmentation; without it (the default)
    training is exactly the defense-free training."""
    seed_everything(seed)
    model.to(device).train()
    loss_fn = dice_ce_loss()
    optimiser = torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
    augment = intensity_augmentation(seed)
    order_rng = np.random.default_rng(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y_all = torch.from_numpy(np.ascontiguousarray(labels)).long().unsqueeze(1)
    losses, epoch_seconds = [], []
    bar = tqdm(range(preset.epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        start, total = time.perf_counter(), 0.0
        order = order_rng.permutation(len(x_all))
        for first in range(0, len(order), preset.batch_size):
            batch = order[first : first + preset.batch_size]
            x = torch.stack([convert_to_tensor(augment(x_all[i]), track_meta=False)
                             for i in batch]).to(device)
            y = y_all[batch].to(device)
            optimiser.zero_grad(set_to_none=True)
            if batch_loss is None:
                loss = loss_fn(model(x), y)
            else:
                loss = batch_loss(model, x, y, lambda m, xb, yb: loss_fn(m(xb), yb))
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(order))
        epoch_seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return {"losses": losses, "seconds_per_epoch": float(np.mean(epoch_seconds)),
            "voxels_per_second": float(images[0, 0].size * len(images) / np.mean(epoch_seconds))}
