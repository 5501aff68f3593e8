"""Several seeds trained as one vmapped model (``benchmarks/stacked_training.py``) follow each
seed's own training: the same initial weights, case order and augmentation, so the losses
match the harness's ``train_segmenter`` up to the convolution backend's rounding."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmarks.stacked_training import build, train_stacked
from uebench.contracts.presets import get_preset
from uebench.runner.training import train_segmenter


def test_stacked_seeds_train_as_each_seed_alone():
    preset = replace(get_preset("quick"), volume_size=16, epochs=2)
    rng = np.random.default_rng(0)
    images = rng.random((3, 4, 16, 16, 16), dtype=np.float32)
    labels = rng.integers(0, 4, (3, 16, 16, 16)).astype(np.uint8)
    seeds = [0, 1]
    stacked = [build("unet", s, 4, 4, preset) for s in seeds]
    result = train_stacked(stacked, seeds, images, labels, preset)
    for m, seed in enumerate(seeds):
        alone = build("unet", seed, 4, 4, preset)
        losses = train_segmenter(alone, images, labels, preset, seed, torch.device("cpu"),
                                 progress=False)["losses"]
        assert [row[m] for row in result["losses"]] == pytest.approx(losses, rel=1e-4)
        start = build("unet", seed, 4, 4, preset)
        for a, b, c in zip(stacked[m].parameters(), alone.parameters(), start.parameters()):
            # the kernels: training moved them 50x more than the two trainings differ (a bias
            # before instance norm has only rounding noise for a gradient, which Adam turns
            # into steps of about lr either way, so biases are not compared)
            if a.ndim > 1:
                assert (a - b).abs().mean() < (b - c).abs().mean() / 10
    first = [next(iter(model.parameters())) for model in stacked]
    assert not torch.equal(first[0], first[1])  # two seeds, two models
