"""What a victim's training logs between epochs: the clean test DSC (the curve every record
keeps) and the loss on the protected val split (the authors' model-selection rule)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.metrics import DiceMetric
from torch import nn

from uebench.contracts.core import Case, Dataset, Preset
from uebench.runner.evaluation import predict_case
from uebench.runner.training import dice_ce_loss


def clean_test_dsc(model: nn.Module, cases: list[Case], dataset: Dataset, preset: Preset,
             device: torch.device, grid: tuple[float, int] | None = None) -> float | None:
    """The foreground-mean DSC over ``cases`` as ``evaluate`` computes ``dsc_fg_mean`` (per
    class the mean over cases, nnU-Net's empty rule, then the mean over classes), without the
    surface metrics: cheap enough to log during training."""
    classes = range(1, dataset.n_classes)
    rows = []
    for case in cases:
        prediction = torch.from_numpy(predict_case(model, case, preset, device, grid)).long()
        reference = torch.from_numpy(case.label.astype(np.int64))
        pred = torch.stack([prediction == k for k in classes])[None].float()
        ref = torch.stack([reference == k for k in classes])[None].float()
        dice = DiceMetric(include_background=True, reduction="none",
                          ignore_empty=False)(pred, ref)[0].numpy().astype(np.float64)
        both_empty = (pred[0].flatten(1).sum(1) == 0) & (ref[0].flatten(1).sum(1) == 0)
        dice[both_empty.numpy()] = np.nan
        rows.append(dice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = np.nanmean(np.nanmean(np.array(rows), axis=0))
    return float(value) if np.isfinite(value) else None


@torch.no_grad()
def val_loss(model: nn.Module, images: list[np.ndarray], labels: list[np.ndarray],
             window: int, device: torch.device) -> float:
    """The victim's DiceCE on the (protected) val volumes, one at a time, in eval mode, by
    sliding windows of the training edge ``window`` (a cube volume is one window): the loss
    the reference trainer keeps its "best" model by."""
    model.eval()
    loss_fn = dice_ce_loss()
    losses = []
    for image, label in zip(images, labels):
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(device)
        logits = sliding_window_inference(x, (window,) * 3, 1, model, overlap=0.25)
        losses.append(loss_fn(logits, torch.from_numpy(label.astype(np.int64))[None, None]
                              .to(device)).item())
    return float(np.mean(losses))
