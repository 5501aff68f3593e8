"""Imperceptibility of a released volume: norms of the stored delta, PSNR and 3D SSIM, on the
whole volume and inside the foreground ROI (MONAI ``PSNRMetric`` / ``SSIMMetric``, data range 1).

ROI PSNR uses the foreground voxels only; ROI SSIM is computed on the foreground's bounding box
padded by the SSIM window (SSIM needs neighbourhoods, so a voxel set will not do).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.metrics import PSNRMetric, SSIMMetric

SSIM_WINDOW = 7


def _psnr(a: np.ndarray, b: np.ndarray) -> float | None:
    if np.array_equal(a, b):
        return None  # identical: PSNR is infinite
    value = PSNRMetric(max_val=1.0)(torch.from_numpy(a)[None], torch.from_numpy(b)[None])
    return float(value.item())


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    metric = SSIMMetric(spatial_dims=3, data_range=1.0, win_size=SSIM_WINDOW)
    return float(metric(torch.from_numpy(a)[None], torch.from_numpy(b)[None]).mean().item())


def _roi_box(roi: np.ndarray) -> tuple[slice, ...]:
    coords = np.argwhere(roi)
    low = np.maximum(coords.min(0) - SSIM_WINDOW // 2 - 1, 0)
    high = np.minimum(coords.max(0) + SSIM_WINDOW // 2 + 2, roi.shape)
    low = np.maximum(np.minimum(low, high - SSIM_WINDOW), 0)
    return tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high))


def fidelity(clean: np.ndarray, protected: np.ndarray, roi: np.ndarray) -> dict[str, Any]:
    """Fidelity of ``protected`` vs ``clean`` (``[C, D, H, W]``), ``roi`` a ``[D, H, W]`` mask."""
    delta = protected.astype(np.float64) - clean
    result: dict[str, Any] = {
        "linf": float(np.abs(delta).max()),
        "l2": float(np.sqrt((delta**2).sum())),
        "l0_fraction": float((delta != 0).any(axis=0).mean()),  # voxels, any channel
        "psnr_whole": _psnr(protected, clean),
        "ssim_whole": _ssim(protected, clean),
    }
    if roi.any():
        result["psnr_roi"] = _psnr(protected[:, roi], clean[:, roi])
        box = (slice(None), *_roi_box(roi))
        result["ssim_roi"] = _ssim(protected[box], clean[box])
    return result


def mean_fidelity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of each fidelity figure over cases (max for L-inf); None stays None (infinite PSNR)."""
    summary: dict[str, Any] = {}
    for key in rows[0]:
        values = [r.get(key) for r in rows]
        if any(v is None for v in values):
            summary[key] = None
        elif key == "linf":
            summary[key] = max(values)
        else:
            summary[key] = float(np.mean(values))
    return summary
