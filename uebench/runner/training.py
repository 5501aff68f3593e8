"""Seeded training of a segmentation network (victims): on whole volumes (the cube grid) or on
random patches of cases at their own grid (the native grid)."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.transforms import (
    Compose,
    FgBgToIndicesd,
    RandCropByPosNegLabeld,
    RandScaleIntensity,
    RandShiftIntensity,
    SpatialPadd,
)
from monai.utils import convert_to_tensor
from torch import nn
from tqdm.auto import tqdm

from uebench.contracts.core import BatchLoss, Preset
from uebench.contracts.recipes import Recipe

# Part of the victim cache key: bump when a change here changes what training produces (2:
# recipes, the clean test DSC per epoch and the selection rule's record).
TRAINING_VERSION = "2"
# The clean test DSC is logged at about this many epochs of every victim training (every
# ``monitor_every(preset)`` epochs, and always the last).
MONITOR_POINTS = 10

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
    """Intensity-only augmentation (uebench's recipe: scale 0.1 and shift 0.05, each at p
    0.5)."""
    augment = Compose([RandScaleIntensity(factors=0.1, prob=0.5),
                       RandShiftIntensity(offsets=0.05, prob=0.5)])
    augment.set_random_state(seed=seed % 2**32)
    return augment


def augmentation(recipe: Recipe, seed: int) -> Callable[[Any], Any]:
    """The recipe's augmentation of one training volume (the identity for ``none``)."""
    if recipe.augmentation == "none":
        return lambda volume: volume
    return intensity_augmentation(seed)


def optimiser(model: nn.Module, preset: Preset, recipe: Recipe,
              lr: float | None = None) -> torch.optim.Adam:
    """Adam at ``lr`` (default: the preset's) with the recipe's betas and weight decay; with
    ``decay_weights_only`` the decay spares biases and norm parameters (every parameter of
    fewer than two dimensions), as the reference code's parameter groups do."""
    decay = preset.weight_decay if recipe.weight_decay is None else recipe.weight_decay
    lr = preset.lr if lr is None else lr
    parameters = [p for p in model.parameters() if p.requires_grad]
    if recipe.decay_weights_only:
        groups = [{"params": [p for p in parameters if p.ndim > 1], "weight_decay": decay},
                  {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0}]
        return torch.optim.Adam(groups, lr=lr, betas=recipe.betas)
    return torch.optim.Adam(parameters, lr=lr, betas=recipe.betas, weight_decay=decay)


def monitor_every(preset: Preset) -> int:
    """How often (in epochs) a training logs the clean test DSC: the preset's
    ``test_dsc_every``, else about ``MONITOR_POINTS`` times per training; always also at the
    last epoch."""
    return preset.test_dsc_every or max(1, -(-preset.epochs // MONITOR_POINTS))


def patch_cases(images: list[np.ndarray], labels: list[np.ndarray], preset: Preset
                ) -> list[dict[str, Any]]:
    """The native grid's cases as the patch sampler reads them, prepared once: each padded to
    the patch edge where it is smaller, with its foreground and background voxel indices
    (MONAI ``FgBgToIndicesd``) so that no epoch searches the volume again."""
    prepare = Compose([SpatialPadd(keys=("image", "label"), spatial_size=(preset.volume_size,) * 3),
                       FgBgToIndicesd(keys="label")])
    return [prepare({"image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
                     "label": torch.from_numpy(label[None].astype(np.int64))})
            for image, label in zip(images, labels)]


def patch_sampler(preset: Preset, seed: int) -> Compose:
    """The native grid's training patches: ``preset.patches_per_case`` random
    ``volume_size``^3 patches of a prepared case (``patch_cases``), each centred on a
    foreground or a background voxel with equal probability (MONAI
    ``RandCropByPosNegLabeld``, pos 1 / neg 1, as nnU-Net oversamples foreground). Seeded
    through a ``Compose``, which draws the crop's own seed from ``seed``."""
    sampler = Compose([RandCropByPosNegLabeld(
        keys=("image", "label"), label_key="label", spatial_size=(preset.volume_size,) * 3,
        pos=1, neg=1, num_samples=preset.patches_per_case,
        fg_indices_key="label_fg_indices", bg_indices_key="label_bg_indices")])
    sampler.set_random_state(seed=seed % 2**32)
    return sampler


def _cube_batches(x_all: torch.Tensor, y_all: torch.Tensor, preset: Preset,
                  order_rng: np.random.Generator) -> Iterator[tuple[list[torch.Tensor],
                                                               torch.Tensor]]:
    """One epoch over whole volumes ``x_all [N, C, ...]``, ``y_all [N, 1, ...]``:
    ``(images, labels)`` per batch, in a seeded order."""
    order = order_rng.permutation(len(x_all))
    for first in range(0, len(order), preset.batch_size):
        batch = order[first : first + preset.batch_size]
        yield [x_all[i] for i in batch], y_all[batch]


def _patch_batches(cases: list[dict[str, Any]], preset: Preset, order_rng: np.random.Generator,
                   sampler: Compose) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
    """One epoch over the native grid: rounds of ``patches_per_case`` patches of every
    prepared case (cases in a seeded order each round), in batches of ``preset.batch_size``
    patches; one round, or as many rounds as ``preset.iterations_per_epoch`` batches take
    (the last one cut where the count is reached)."""
    yielded, target = 0, preset.iterations_per_epoch
    while True:
        patches = []
        for i in order_rng.permutation(len(cases)):
            patches += sampler(cases[i])
        for first in range(0, len(patches), preset.batch_size):
            batch = patches[first : first + preset.batch_size]
            yield ([convert_to_tensor(p["image"], track_meta=False) for p in batch],
                   torch.stack([convert_to_tensor(p["label"], track_meta=False)
                                for p in batch]))
            yielded += 1
            if target is not None and yielded == target:
                return
        if target is None:
            return


def train_segmenter(
    model: nn.Module,
    images: np.ndarray | list[np.ndarray],
    labels: np.ndarray | list[np.ndarray],
    preset: Preset,
    seed: int,
    device: torch.device,
    desc: str = "training",
    progress: bool = True,
    batch_loss: BatchLossHook | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    recipe: Recipe | None = None,
    monitor: Callable[[nn.Module], float | None] | None = None,
    select_by: Callable[[nn.Module], float] | None = None,
    lr: float | None = None,
) -> dict[str, Any]:
    """Train ``model`` with DiceCE and Adam for ``preset.epochs``; returns losses and seconds
    per epoch. On the cube grid ``images [N, C, D, H, W]`` / ``labels [N, D, H, W]`` are whole
    volumes; on the native grid (``preset.native``) they are lists of cases of any shape, and
    each epoch trains on ``patch_sampler``'s patches of every case (``patch_cases``).

    ``batch_loss`` (a training-time defense, ``Defense.batch_loss``): each step minimises
    ``batch_loss(model, x, y, loss_fn)`` instead of ``loss_fn(model, x, y)``, the DiceCE of
    ``model(x)``, on the batch after the intensity augmentation; without it (the default)
    training is exactly the defense-free training.

    ``validate`` (early stopping): called with the model after every epoch; the model ends
    with the weights of the epoch it scored highest (the first of ties), and the result adds
    ``val_dsc`` (per epoch) and ``best_epoch`` (1-based).

    ``recipe`` (default: the preset's): the augmentation and the optimiser's betas and weight
    decay. ``monitor`` (the clean test DSC): called every ``monitor_every(preset)``
    epochs and after the last; the result adds ``test_dsc`` (``{"every", "epochs",
    "values"}``). ``select_by`` (the authors' selection rule: a loss on the protected val
    split): called after every epoch; the result adds ``val_loss`` (per epoch),
    ``selected_epoch`` (1-based, the lowest, first of ties) and ``selected_weights`` (that
    epoch's state dict, for the caller to evaluate and drop); the model keeps its last
    weights. ``lr``: the Adam learning rate (default: the preset's; a victim's own is
    ``Victim.learning_rate``)."""
    seed_everything(seed)
    model.to(device).train()
    recipe = recipe or preset.victim_recipe
    loss_fn = dice_ce_loss()
    optimise = optimiser(model, preset, recipe, lr)
    augment = augmentation(recipe, seed)
    order_rng = np.random.default_rng(seed)
    if preset.native:
        cases, sampler = patch_cases(images, labels, preset), patch_sampler(preset, seed)
    else:
        x_all = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        y_all = torch.from_numpy(np.ascontiguousarray(labels)).long().unsqueeze(1)
    losses, epoch_seconds, voxels, scores, best = [], [], 0, [], None
    every, monitored, val_losses, selected = monitor_every(preset), [], [], None
    bar = tqdm(range(preset.epochs), desc=desc, disable=not progress, leave=False)
    for index in bar:
        start, total, seen, voxels = time.perf_counter(), 0.0, 0, 0
        epoch = (_patch_batches(cases, preset, order_rng, sampler) if preset.native
                 else _cube_batches(x_all, y_all, preset, order_rng))
        for volumes, y in epoch:
            x = torch.stack([convert_to_tensor(augment(v), track_meta=False)
                             for v in volumes]).to(device)
            y = y.to(device)
            optimise.zero_grad(set_to_none=True)
            if batch_loss is None:
                loss = loss_fn(model(x), y)
            else:
                loss = batch_loss(model, x, y, lambda m, xb, yb: loss_fn(m(xb), yb))
            loss.backward()
            optimise.step()
            total += loss.item() * len(x)
            seen += len(x)
            voxels += x[0, 0].numel() * len(x)
        losses.append(total / seen)
        epoch_seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if validate is not None:
            scores.append(float(validate(model)))
            model.train()
            if best is None or scores[-1] > max(scores[:-1]):
                best = copy.deepcopy(model.state_dict())
        if select_by is not None:
            val_losses.append(float(select_by(model)))
            model.train()
            if selected is None or val_losses[-1] < min(val_losses[:-1]):
                selected = copy.deepcopy(model.state_dict())
        if monitor is not None and ((index + 1) % every == 0 or index + 1 == preset.epochs):
            monitored.append((index + 1, monitor(model)))
            model.train()
    result = {"losses": losses, "seconds_per_epoch": float(np.mean(epoch_seconds)),
              "voxels_per_second": float(voxels / np.mean(epoch_seconds))}
    if validate is not None:
        model.load_state_dict(best)
        result.update(val_dsc=scores, best_epoch=int(np.argmax(scores)) + 1)
    if select_by is not None:
        result.update(val_loss=val_losses, selected_epoch=int(np.argmin(val_losses)) + 1,
                      selected_weights=selected)
    if monitor is not None:
        result["test_dsc"] = {"every": every, "epochs": [e for e, _ in monitored],
                              "values": [v for _, v in monitored]}
    return result
