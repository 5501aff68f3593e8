"""The release-agreement measures on arrays whose answer is known: a release that halves the
in-memory delta inside the volume and drops it on the background."""

import numpy as np

from benchmarks.release_delta_agreement import agreement


def test_a_halved_release_without_background_reads_as_such():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(1, 8, 8, 8)).astype(np.float32)
    clean[:, :, :, :2] = 0.0  # a quarter of the voxels are background
    in_memory = rng.integers(-127, 128, size=clean.shape).astype(np.int8)
    released = np.where(clean != 0, in_memory // 2, 0).astype(np.int8)
    measured = agreement(in_memory, released, clean, 0.001)
    energy = in_memory.astype(np.float64) ** 2
    assert np.isclose(measured["background_energy_share"],
                      energy[clean == 0].sum() / energy.sum())
    assert 0.2 < measured["background_energy_share"] < 0.3
    assert 0.48 < measured["amplitude_ratio"] < 0.52
    assert measured["correlation"] > 0.99
    assert abs(measured["spread_ratio"] - 1.0) < 0.01  # noise of 0.1 % of the spread
    shuffled = rng.permutation(released.ravel()).reshape(released.shape)
    assert abs(agreement(in_memory, shuffled, clean, 0.001)["correlation"]) < 0.1
    widened = agreement(np.where(clean > 0, 127, -127).astype(np.int8), released, clean, 0.01)
    assert widened["spread_ratio"] > 1.0  # +eps where above 0, -eps below: a wider spread
