"""Pieces that training-based protection methods share: surrogate networks, their training
steps on perturbed data, and the device-side helpers (autocast, batching of case tensors)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from monai.networks.nets import UNet
from torch import nn

from uebench.core import Case, Preset

FIT_RULE = (
    "schedule rule shared by every surrogate-based method: the method's outer iteration "
    "repeats until its surrogate's train foreground DSC on the data it trains on (the "
    "perturbed training set; the clean one for TAP's pretraining), checked after each "
    "iteration, reaches fit_dsc, or until max_surrogate_updates surrogate updates (quick: "
    "0.9 and 120; paper: 0.9 and 1000, the VoxShield reference's 100 epochs x 10 S-steps)"
)


def fit_rule_params(preset: Preset) -> dict[str, Any]:
    """The stop rule's parameters under ``preset`` (see ``FIT_RULE``)."""
    return {"fit_dsc": 0.9, "max_surrogate_updates": 1000 if preset.name == "paper" else 120}


def max_iterations(updates_per_iteration: int, params: dict[str, Any]) -> int:
    """Outer iterations of ``updates_per_iteration`` surrogate updates the cap allows (>= 1)."""
    return max(1, math.ceil(params["max_surrogate_updates"] / updates_per_iteration))


def parse_channels(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"16-32-64"`` or a sequence -> a tuple of ints."""
    if isinstance(text, str):
        return tuple(int(c) for c in text.split("-"))
    return tuple(int(c) for c in text)


def unet(in_channels: int, out_channels: int, channels: tuple[int, ...], res_units: int,
         act: str = "PRELU") -> nn.Module:
    """A MONAI 3D UNet with stride-2 levels and instance norm."""
    return UNet(3, in_channels, out_channels, channels=channels,
                strides=(2,) * (len(channels) - 1), num_res_units=res_units, norm="INSTANCE",
                act=act)


def case_tensors(cases: list[Case], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, C, D, H, W]`` and labels ``[N, 1, D, H, W]`` (long) on ``device``."""
    images = torch.from_numpy(np.stack([c.image for c in cases])).to(device)
    labels = torch.from_numpy(np.stack([c.label for c in cases]).astype(np.int64))
    return images, labels.unsqueeze(1).to(device)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_memory_format(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move ``model`` to ``device``; channels-last-3d on CUDA when asked (faster convolutions)."""
    model = model.to(device)
    if channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
    return model


@contextlib.contextmanager
def frozen(surrogate: nn.Module) -> Iterator[nn.Module]:
    """The surrogate as the N-step sees it: eval mode, weights not trainable (no weight
    gradients are computed); ``requires_grad`` is restored on exit, the mode is not (the next
    S-step sets train mode itself)."""
    surrogate.eval()
    trainable = [p for p in surrogate.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield surrogate
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded random partition of ``range(n)`` into batches."""
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


def surrogate_step(model: nn.Module, optimiser: torch.optim.Optimizer, loss_fn: nn.Module,
                   x: torch.Tensor, y: torch.Tensor, amp: bool) -> torch.Tensor:
    """One training step of ``model`` on ``(x, y)``; returns the loss as a device tensor."""
    model.train()
    optimiser.zero_grad(set_to_none=True)
    with autocast(x.device, amp):
        loss = loss_fn(model(x), y)
    loss.backward()
    optimiser.step()
    return loss.detach()


def foreground_dice(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean foreground Dice of ``argmax(logits)`` vs ``y`` over the batch (device tensor, no
    host sync): the surrogate's training accuracy, logged once per epoch."""
    n_classes = logits.shape[1]
    pred = logits.argmax(1, keepdim=True)
    scores = []
    for k in range(1, n_classes):
        p, t = pred == k, y == k
        denominator = p.sum() + t.sum()
        scores.append(torch.where(denominator > 0, 2 * (p & t).sum() / denominator.clamp(min=1),
                                  torch.ones((), device=y.device)))
    return torch.stack(scores).mean()
