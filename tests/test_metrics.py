import numpy as np
import torch

from uebench.runner.evaluation import NSD_TOLERANCE_MM, evaluate, overlap_scores, surface_dice
from uebench.runner.fidelity import fidelity


def _cube(size, low, high, value=1):
    volume = np.zeros((size,) * 3, np.uint8)
    volume[low:high, low:high, low:high] = value
    return volume


def test_dice_follows_the_nnunet_empty_rule():
    reference = _cube(16, 4, 8)
    prediction = _cube(16, 4, 8)
    prediction[12, 12, 12] = 2  # false positive of class 2, absent from the reference
    dice, _ = overlap_scores(prediction, reference, [(1,), (2,), (3,)], (1.0, 1.0, 1.0))
    assert dice[0] == 1.0
    assert dice[1] == 0.0  # FP on an empty reference scores 0
    assert np.isnan(dice[2])  # both empty: excluded


def test_hd95_is_in_millimetres():
    reference = _cube(24, 6, 12)
    prediction = _cube(24, 8, 14)
    _, hd_1mm = overlap_scores(prediction, reference, [(1,)], (1.0, 1.0, 1.0))
    _, hd_2mm = overlap_scores(prediction, reference, [(1,)], (2.0, 2.0, 2.0))
    assert hd_1mm[0] > 0
    np.testing.assert_allclose(hd_2mm[0], 2 * hd_1mm[0], rtol=1e-5)


def _shifted_cube(shift, axis=0):
    volume = np.zeros((16,) * 3, np.uint8)
    box = [slice(4, 8)] * 3
    box[axis] = slice(4 + shift, 8 + shift)
    volume[tuple(box)] = 1
    return volume


def test_nsd_by_hand():
    # A 4^3 cube has 56 boundary voxels (64 minus the 2^3 interior); tolerance 1 mm.
    assert NSD_TOLERANCE_MM == 1.0
    reference = _shifted_cube(0)
    assert surface_dice(reference, reference, [(1,)], (1.0, 1.0, 1.0))[0] == 1.0
    # Shifted 1 voxel = 1 mm: every boundary voxel is within 1 mm of the other boundary.
    assert surface_dice(_shifted_cube(1), reference, [(1,)], (1.0, 1.0, 1.0))[0] == 1.0
    # Shifted 2 mm: the 16 voxels of each cube's far face are 2 mm away -> (40 + 40) / 112.
    nsd = surface_dice(_shifted_cube(2), reference, [(1,)], (1.0, 1.0, 1.0))[0]
    np.testing.assert_allclose(nsd, 80 / 112, rtol=1e-6)
    # Shifted 1 voxel of 2 mm: the far face (16) and the 4 voxels inside the near face fail.
    nsd = surface_dice(_shifted_cube(1), reference, [(1,)], (2.0, 2.0, 2.0))[0]
    np.testing.assert_allclose(nsd, 72 / 112, rtol=1e-6)


def test_nsd_tolerance_is_in_millimetres_along_each_axis():
    reference = _shifted_cube(0)
    spacing = (0.5, 1.0, 1.0)  # a 2-voxel shift is 1 mm along axis 0, 2 mm along axis 2
    assert surface_dice(_shifted_cube(2, axis=0), reference, [(1,)], spacing)[0] == 1.0
    nsd = surface_dice(_shifted_cube(2, axis=2), reference, [(1,)], spacing)[0]
    np.testing.assert_allclose(nsd, 80 / 112, rtol=1e-6)


def test_nsd_follows_the_dice_empty_rule():
    reference = _cube(16, 4, 8)
    prediction = _cube(16, 4, 8)
    prediction[12, 12, 12] = 2  # false positive of class 2, absent from the reference
    nsd = surface_dice(prediction, reference, [(1,), (2,), (3,)], (1.0, 1.0, 1.0))
    assert nsd[0] == 1.0
    assert nsd[1] == 0.0  # FP on an empty reference scores 0
    assert np.isnan(nsd[2])  # both empty: excluded
    missed = surface_dice(np.zeros_like(reference), reference, [(1,)], (1.0, 1.0, 1.0))
    assert missed[0] == 0.0  # empty prediction of a present class scores 0


class _Background(torch.nn.Module):
    """Predicts background everywhere: every present class is missed."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 4, *x.shape[2:])
        logits[:, 0] = 1.0
        return logits


def test_evaluate_reports_nsd_beside_dsc_and_hd95(tiny):
    from uebench.contracts import registry

    dataset = registry.datasets.get("spheres")()
    cases = dataset.build(tiny, 0)[:2]
    summary = evaluate(_Background(), cases, dataset, tiny, torch.device("cpu"))
    assert summary["nsd_tolerance_mm"] == NSD_TOLERANCE_MM
    assert set(summary["nsd"]) == set(summary["dsc"]) == set(dataset.class_names)
    assert summary["nsd_fg_mean"] == 0.0  # missed classes score 0, as in DSC
    assert all(set(case["nsd"]) == set(case["dsc"]) for case in summary["per_case"])


def test_fidelity_whole_and_roi():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 0.8, (1, 16, 16, 16)).astype(np.float32)
    roi = _cube(16, 4, 12).astype(bool)
    same = fidelity(clean, clean.copy(), roi)
    assert same["linf"] == 0 and same["psnr_whole"] is None and same["ssim_whole"] > 0.9999
    noisy = clean + roi[None] * np.float32(4 / 255)
    result = fidelity(clean, noisy, roi)
    np.testing.assert_allclose(result["linf"], 4 / 255, rtol=1e-5)
    assert result["psnr_roi"] < result["psnr_whole"]  # the noise sits in the ROI only
    np.testing.assert_allclose(result["psnr_roi"], 20 * np.log10(255 / 4), rtol=1e-3)
    assert result["ssim_roi"] < 1.0
