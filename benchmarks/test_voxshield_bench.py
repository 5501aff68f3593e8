"""The VoxShield step benchmark (``benchmarks/voxshield_steps.py``, timed in ``make bench`` by
``benchmarks/test_hot_paths.py``) times what ``VoxShield.fit`` computes: no surrogate weight
gradients in the N-step."""

import pytest

from benchmarks.voxshield_steps import bare_passes, make_bench, n_step


@pytest.fixture(scope="module")
def bench():
    return make_bench("cpu", size=32, batch=2)


@pytest.mark.parametrize("piece", [n_step, bare_passes])
def test_surrogate_frozen_as_fit_freezes_it(bench, piece):
    """The N-step (and the bare passes it is measured against) compute no surrogate weight
    gradients, as in ``VoxShield.fit``, and leave the weights trainable for the S-step."""
    bench.surrogate.zero_grad(set_to_none=True)
    bench.method.generator.zero_grad(set_to_none=True)
    piece(bench)
    assert all(p.grad is None for p in bench.surrogate.parameters())
    assert all(p.requires_grad for p in bench.surrogate.parameters())
    assert any(p.grad is not None for p in bench.method.generator.parameters())
