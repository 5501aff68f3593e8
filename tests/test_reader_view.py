"""The reader's view of a protected volume (``uebench.runner.reader_view``)."""

from __future__ import annotations

import numpy as np
import pytest

from uebench.runner.reader_view import reread, zscored_channels


def _zscored_volume(rng: np.random.Generator) -> np.ndarray:
    """One channel as a reader normalises it: z-scored over a ball, mapped to [0, 1], 0 outside."""
    grid = np.indices((16, 16, 16)) - 7.5
    inside = (grid**2).sum(0) < 36
    z = rng.standard_normal(inside.sum())
    channel = np.zeros((16, 16, 16), np.float32)
    channel[inside] = (np.clip((z - z.mean()) / z.std(), -5, 5) + 5) / 10
    return channel[None]


def test_a_delta_that_only_rescales_a_channel_is_read_back_as_nothing():
    clean = _zscored_volume(np.random.default_rng(0))
    inside = clean[0] != 0
    widened = clean.copy()
    widened[0][inside] = 0.5 + 1.2 * (clean[0][inside] - 0.5) + 0.03  # spread x1.2, shifted
    assert np.abs(widened - clean).max() > 0.03
    np.testing.assert_allclose(reread(widened, clean, [True]), clean, atol=1e-5)


def test_the_clean_background_stays_zero_and_a_pattern_survives():
    rng = np.random.default_rng(1)
    clean = _zscored_volume(rng)
    inside = clean[0] != 0
    pattern = np.where(np.indices(clean[0].shape).sum(0) % 2 == 0, 8 / 255, -8 / 255)
    protected = np.clip(clean + pattern[None], 0, 1).astype(np.float32)
    assert (protected[0][~inside] > 0).any()
    read = reread(protected, clean, [True])
    assert (read[0][~inside] == 0).all()
    kept = (read - clean)[0][inside]
    assert np.corrcoef(kept, pattern[inside])[0, 1] > 0.95  # zero-mean pattern: kept, not erased


def test_a_ct_channel_is_read_as_it_is():
    rng = np.random.default_rng(2)
    clean = np.concatenate([_zscored_volume(rng), rng.random((1, 16, 16, 16), np.float32)])
    protected = np.clip(clean + 0.02, 0, 1).astype(np.float32)
    read = reread(protected, clean, zscored_channels(("T2", "CT"), 2))
    np.testing.assert_array_equal(read[1], protected[1])
    assert not np.array_equal(read[0], protected[0])
    assert zscored_channels((), 3) == [True, True, True]
    with pytest.raises(ValueError, match="2 channel kinds for 1 channels"):
        reread(protected[:1], clean[:1], [True, False])
