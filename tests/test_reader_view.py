"""The reader's view of a protected volume (``uebench.runner.reader_view``)."""

from __future__ import annotations

import numpy as np
import pytest

from uebench.runner.reader_view import reread, reread_within, zscored_channels


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


def test_the_writer_s_shrink_holds_eps_on_the_reader_s_view():
    rng = np.random.default_rng(3)
    clean = _zscored_volume(rng)
    inside = clean[0] != 0
    eps = 8 / 255
    narrowing = clean.copy()  # every voxel pulled towards the mean: the reader widens it back
    narrowing[0][inside] -= eps * np.sign(clean[0][inside] - 0.5)
    assert np.abs(reread(narrowing, clean, [True]) - reread(clean, clean, [True])).max() > eps
    view, (factor,) = reread_within(narrowing, clean, [True], eps)
    assert 0 < factor < 1
    moved = view - reread(clean, clean, [True])
    assert np.abs(moved).max() <= eps * (1 + 1e-6)
    assert np.abs(moved).max() > 0.9 * eps  # shrunk to the budget, not past it
    assert (view[0][~inside] == 0).all()
    unchanged, (one,) = reread_within(clean, clean, [True], eps)
    assert one == 1.0
    np.testing.assert_array_equal(unchanged, reread(clean, clean, [True]))


def test_the_writer_s_shrink_leaves_a_ct_channel_as_it_is():
    rng = np.random.default_rng(4)
    clean = np.concatenate([_zscored_volume(rng), rng.random((1, 16, 16, 16), np.float32)])
    protected = np.clip(clean + 0.02, 0, 1).astype(np.float32)
    view, factors = reread_within(protected, clean, zscored_channels(("T2", "CT"), 2), 0.02)
    np.testing.assert_array_equal(view[1], protected[1])
    assert factors[1] == 1.0
    with pytest.raises(ValueError, match="2 channel kinds for 1 channels"):
        reread_within(protected[:1], clean[:1], [True, False], 0.02)
