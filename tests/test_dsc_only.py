"""``dice_scores`` / ``dsc_only`` (issue 32, the cost): the DSC of ``evaluate`` without HD95 and
NSD, for curves over epochs; the values must be ``evaluate``'s, bit for bit."""

import numpy as np
import pytest
import torch

from uebench.contracts.core import Case
from uebench.contracts.presets import get_preset
from uebench.runner.data import resolve_dataset
from uebench.runner.evaluation import dice_scores, dsc_only, evaluate, overlap_scores

GROUPS = [(1,), (2,), (3,), (1, 2, 3), (1, 3)]


@pytest.mark.parametrize("seed", range(6))
def test_dice_scores_are_overlap_scores_dice_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    reference = rng.choice(4, size=(12, 14, 10), p=[0.7, 0.1, 0.1, 0.1]).astype(np.uint8)
    prediction = reference.copy()
    flip = rng.random(reference.shape) < 0.3
    prediction[flip] = rng.integers(0, 4, flip.sum())
    if seed % 2:  # class 3 absent from the reference and predicted: both empty -> NaN
        reference[reference == 3] = 0
        prediction[prediction == 3] = 0
    if seed == 4:  # a false positive on an empty reference scores 0
        reference[reference == 2] = 0
    expected, _ = overlap_scores(prediction, reference, GROUPS, (1.0, 1.0, 1.0))
    got = dice_scores(prediction, reference, GROUPS)
    np.testing.assert_array_equal(got, expected)  # NaNs in the same places, values equal
    assert (seed % 2 == 0) or np.isnan(got[2])


class _Fixed(torch.nn.Module):
    """Logits that put class ``(x + y) % 4`` first: a fixed, imperfect segmenter."""

    def forward(self, x):
        grid = torch.arange(x.shape[-1]).view(1, 1, 1, -1) + torch.arange(x.shape[-2]).view(
            1, 1, -1, 1)
        labels = (grid + 0 * x[:, :1]).long() % 4
        return torch.nn.functional.one_hot(labels[:, 0], 4).permute(0, 4, 1, 2, 3).float()


def test_dsc_only_gives_evaluates_dsc():
    dataset, preset = resolve_dataset("brats-mni"), get_preset("canary")
    rng = np.random.default_rng(0)
    cases = [Case(f"c{i}", rng.random((4, 32, 32, 32), dtype=np.float32),
                  rng.choice(4, size=(32, 32, 32), p=[0.6, 0.2, 0.1, 0.1]).astype(np.uint8),
                  (1.0, 1.0, 1.0)) for i in range(3)]
    full = evaluate(_Fixed(), cases, dataset, preset, torch.device("cpu"))
    only = dsc_only(_Fixed(), cases, dataset, preset, torch.device("cpu"))
    assert only["dsc"] == full["dsc"]
    assert only["dsc_fg_mean"] == full["dsc_fg_mean"]
    assert only["dsc_regions_mean"] == full["dsc_regions_mean"]
    assert 0 < only["dsc_fg_mean"] < 1
