"""Segmentation quality on the CLEAN test split: DSC (nnU-Net empty rule), HD95, NSD, regions.

DSC, HD95 and NSD come from MONAI (``DiceMetric``, ``HausdorffDistanceMetric(percentile=95)``:
the max of the two directed 95th percentiles, in mm via the voxel spacing;
``SurfaceDiceMetric``: the normalised surface Dice, the fraction of the boundary voxels of
prediction and reference that lie within ``NSD_TOLERANCE_MM`` (1 mm, every class and region)
of the other's boundary, distances in mm via the voxel spacing). Empty-mask rule (nnU-Net's):
DSC is NaN only when prediction and reference are both empty (excluded by nanmean); a false
positive on an empty reference scores 0. NSD follows the same rule: NaN when both are empty, 0
when exactly one is (MONAI 1.6 returns exactly this; it is also enforced here). HD95 is NaN
when either is empty.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.metrics import DiceMetric, HausdorffDistanceMetric, SurfaceDiceMetric
from monai.transforms import Resize
from torch import nn

from uebench.contracts.core import Case, Dataset, Preset

EMPTY_RULE = "nnU-Net: NaN when prediction and reference are both empty; FP on empty ref = 0"
NSD_TOLERANCE_MM = 1.0  # surface Dice tolerance, the same for every class and region


@torch.no_grad()
def predict(
    model: nn.Module, image: np.ndarray, preset: Preset, device: torch.device,
    window: int | None = None,
) -> np.ndarray:
    """Label map ``[D, H, W]`` by sliding-window inference with the preset's cube (or the
    patch edge) as window, or ``window`` (a regridded cube: the victim's own training size).
    The class is ``max(1).indices`` (the first maximal class, as ``argmax``, which is an order
    of magnitude slower over the channel axis on CPU)."""
    model.eval()
    x = torch.from_numpy(image[None]).to(device)
    size = window or preset.volume_size
    logits = sliding_window_inference(x, (size,) * 3, 1, model, overlap=0.25)
    return logits.max(1).indices[0].cpu().numpy().astype(np.uint8)


def regrid_shape(shape: tuple[int, ...], factor: float, multiple: int = 1) -> tuple[int, ...]:
    """``shape`` scaled by ``factor``, each edge rounded to a multiple of ``multiple`` (a cube
    victim's size rule) and at least one multiple."""
    return tuple(max(multiple, int(round(n * factor / multiple)) * multiple) for n in shape)


def resample(volume: np.ndarray, shape: tuple[int, ...], mode: str) -> np.ndarray:
    """``volume [C, D, H, W]`` on the grid ``shape`` (MONAI ``Resize``: ``trilinear`` for
    images, ``nearest`` for labels)."""
    if tuple(volume.shape[1:]) == tuple(shape):
        return volume.astype(np.float32)
    out = Resize(tuple(shape), mode=mode)(torch.as_tensor(volume, dtype=torch.float32))
    return np.asarray(out, dtype=np.float32)


def _one_hot(masks: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(masks)[None].astype(np.float32))


def overlap_scores(
    prediction: np.ndarray, reference: np.ndarray, groups: list[tuple[int, ...]],
    spacing: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """DSC and HD95 (mm) for each group of label values (a class or a region)."""
    pred = _one_hot([np.isin(prediction, g) for g in groups])
    ref = _one_hot([np.isin(reference, g) for g in groups])
    dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(pred, ref)
    dice = dice[0].numpy().astype(np.float64)
    pred_empty = pred[0].flatten(1).sum(1).numpy() == 0
    ref_empty = ref[0].flatten(1).sum(1).numpy() == 0
    dice[pred_empty & ref_empty] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")(
            pred, ref, spacing=list(spacing)
        )[0].numpy().astype(np.float64)
    hd[pred_empty | ref_empty] = np.nan
    return dice, hd


def surface_dice(
    prediction: np.ndarray, reference: np.ndarray, groups: list[tuple[int, ...]],
    spacing: tuple[float, float, float], tolerance_mm: float = NSD_TOLERANCE_MM,
) -> np.ndarray:
    """NSD (MONAI ``SurfaceDiceMetric``, tolerance in mm) for each group of label values.

    NaN when prediction and reference are both empty; 0 when exactly one of them is.
    """
    pred = _one_hot([np.isin(prediction, g) for g in groups])
    ref = _one_hot([np.isin(reference, g) for g in groups])
    metric = SurfaceDiceMetric([tolerance_mm] * len(groups), include_background=True,
                               reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nsd = metric(pred, ref, spacing=[float(s) for s in spacing])[0].numpy().astype(np.float64)
    pred_empty = pred[0].flatten(1).sum(1).numpy() == 0
    ref_empty = ref[0].flatten(1).sum(1).numpy() == 0
    nsd[pred_empty != ref_empty] = 0.0
    nsd[pred_empty & ref_empty] = np.nan
    return nsd


def predict_case(model: nn.Module, case: Case, preset: Preset, device: torch.device,
                 grid: tuple[float, int] | None = None) -> np.ndarray:
    """``case``'s label map at its own grid; with ``grid`` (see ``evaluate``) predicted at
    that grid and brought back (nearest)."""
    if grid is None:
        return predict(model, case.image, preset, device)
    shape = regrid_shape(case.label.shape, *grid)
    image = resample(case.image, shape, "trilinear")
    prediction = predict(model, image, preset, device, None if preset.native else max(shape))
    return np.rint(resample(prediction[None], case.label.shape, "nearest")[0]).astype(np.uint8)


def evaluate(
    model: nn.Module, cases: list[Case], dataset: Dataset, preset: Preset, device: torch.device,
    grid: tuple[float, int] | None = None,
) -> dict[str, Any]:
    """Per-class and per-region DSC, HD95 and NSD over ``cases``, per case and aggregated.
    ``grid`` (an attacker who works at another grid, the ``regrid`` defense): ``(factor,
    multiple)``: each image is resampled to that grid for the prediction, and the prediction
    back to the case's own grid (nearest) to be scored there."""
    classes = [(k,) for k in range(1, dataset.n_classes)]
    region_names = list(dataset.regions)
    groups = classes + [dataset.regions[r] for r in region_names]
    per_case, dice_rows, hd_rows, nsd_rows = [], [], [], []
    for case in cases:  # one case's voxels at a time (``StoredCase`` reads them here)
        label = case.label
        prediction = predict_case(model, case, preset, device, grid)
        dice, hd = overlap_scores(prediction, label, groups, case.spacing)
        nsd = surface_dice(prediction, label, groups, case.spacing)
        dice_rows.append(dice)
        hd_rows.append(hd)
        nsd_rows.append(nsd)
        per_case.append({"id": case.id, "dsc": _named(dice, dataset, region_names),
                         "hd95": _named(hd, dataset, region_names),
                         "nsd": _named(nsd, dataset, region_names)})
    dice_all, hd_all, nsd_all = np.array(dice_rows), np.array(hd_rows), np.array(nsd_rows)
    n = len(classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dsc_mean = np.nanmean(dice_all, axis=0)
        hd_mean = np.nanmean(hd_all, axis=0)
        nsd_mean = np.nanmean(nsd_all, axis=0)
        case_fg = np.nanmean(dice_all[:, :n], axis=1)
    summary = {
        "dsc": _named(dsc_mean, dataset, region_names),
        "hd95": _named(hd_mean, dataset, region_names),
        "dsc_fg_mean": _finite(np.nanmean(dsc_mean[:n])),
        "dsc_fg_std_over_cases": _finite(np.nanstd(case_fg)),
        "hd95_fg_mean": (_finite(np.nanmean(hd_mean[:n]))
                         if np.isfinite(hd_mean[:n]).any() else None),
        "nsd": _named(nsd_mean, dataset, region_names),
        "nsd_fg_mean": (_finite(np.nanmean(nsd_mean[:n]))
                        if np.isfinite(nsd_mean[:n]).any() else None),
        "nsd_tolerance_mm": NSD_TOLERANCE_MM,
        "empty_rule": EMPTY_RULE,
        "n_cases": len(cases),
        "per_case": per_case,
    }
    if region_names:
        summary["dsc_regions_mean"] = _finite(np.nanmean(dsc_mean[n:]))
    return summary


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _named(values: np.ndarray, dataset: Dataset, region_names: list[str]) -> dict[str, Any]:
    names = list(dataset.class_names) + region_names
    return {name: _finite(v) for name, v in zip(names, values)}


def dice_scores(prediction: np.ndarray, reference: np.ndarray, groups: list[tuple[int, ...]]
                ) -> np.ndarray:
    """The DSC of ``overlap_scores`` for each group of label values, without HD95 and without
    building one-hot tensors: voxel counts per label (``np.bincount`` of the label pair), the
    division in float32 as MONAI's ``DiceMetric`` does it, so the values are the same bit for
    bit; NaN when prediction and reference are both empty, 0 for a false positive on an empty
    reference."""
    n = int(max(prediction.max(), reference.max(), *(max(g) for g in groups))) + 1
    joint = np.bincount(prediction.astype(np.int64).ravel() * n + reference.ravel(),
                        minlength=n * n).reshape(n, n)  # [predicted label, reference label]
    dice = np.empty(len(groups))
    for i, group in enumerate(groups):
        members = np.zeros(n, bool)
        members[list(group)] = True
        both = joint[np.ix_(members, members)].sum()
        pred, ref = joint[members].sum(), joint[:, members].sum()
        if pred + ref == 0:
            dice[i] = np.nan
        else:
            dice[i] = np.float32(2 * both) / np.float32(pred + ref)
    return dice


def dsc_only(model: nn.Module, cases: list[Case], dataset: Dataset, preset: Preset,
             device: torch.device, grid: tuple[float, int] | None = None) -> dict[str, Any]:
    """``evaluate``'s DSC alone (per class and region, the foreground mean, the regions'
    mean), the same values at a fraction of its cost: what a curve of the clean test DSC over
    epochs needs. ``grid`` as in ``evaluate`` (``predict_case``)."""
    classes = [(k,) for k in range(1, dataset.n_classes)]
    region_names = list(dataset.regions)
    groups = classes + [dataset.regions[r] for r in region_names]
    rows = np.array([dice_scores(predict_case(model, case, preset, device, grid), case.label,
                                 groups) for case in cases])
    n = len(classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dsc_mean = np.nanmean(rows, axis=0)
    summary = {"dsc": _named(dsc_mean, dataset, region_names),
               "dsc_fg_mean": _finite(np.nanmean(dsc_mean[:n])), "n_cases": len(cases)}
    if region_names:
        summary["dsc_regions_mean"] = _finite(np.nanmean(dsc_mean[n:]))
    return summary
