"""What a victim's training logs between epochs besides the clean test DSC
(``evaluation.dsc_only``): the loss on the protected val split, the authors' model-selection
rule."""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

from uebench.runner.training import dice_ce_loss


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
