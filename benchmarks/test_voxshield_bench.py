"""pytest-benchmark tracking of VoxShield's hot path (``make bench``); with benchmarks
disabled (the default in the test suite) each runs once as a smoke test."""

import pytest
import torch

from benchmarks.voxshield_steps import bare_passes, loss_terms, make_bench, n_step, s_step


@pytest.fixture(scope="module")
def bench():
    return make_bench("cpu", size=32, batch=2)


@pytest.mark.parametrize("piece", ["n_step", "s_step", "bare_passes"])
def test_step(benchmark, bench, piece):
    benchmark.group = "voxshield-step"
    benchmark({"n_step": n_step, "s_step": s_step, "bare_passes": bare_passes}[piece], bench)


def test_loss_terms(benchmark, bench):
    benchmark.group = "voxshield-step"
    with torch.no_grad():
        clean = bench.surrogate(bench.x)
    benchmark(loss_terms, bench, clean + 0.1, clean)



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
