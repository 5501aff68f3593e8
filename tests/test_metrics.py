import numpy as np

from uebench.evaluation import overlap_scores
from uebench.fidelity import fidelity


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
