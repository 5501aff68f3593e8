"""The cost ratios (``benchmarks/cost_ratios.py``) compare like with like at tiny sizes: the
allocator changes no number, a batched model of several seeds computes what the separate
models compute, and a larger batch is timed per case."""

import pytest

from benchmarks.cost_ratios import section_allocator, section_batch, section_vmap


@pytest.mark.slow  # two worker processes, each importing torch and MONAI
def test_retaining_freed_memory_changes_no_loss():
    out = section_allocator(rounds=1, size=16, steps=2)
    assert out["losses_bitwise_equal"]
    if out["retain"]["applied"]:  # glibc
        assert out["retain"]["minor_faults_per_step"] <= out["default"]["minor_faults_per_step"]


def test_vmapped_seeds_compute_the_separate_models():
    out = section_vmap(rounds=2, size=16)
    assert out["last_loss_max_rel_diff"] < 1e-4
    assert out["last_losses_separate"][0] != out["last_losses_separate"][1]  # two seeds


def test_batch_times_are_per_case():
    out = section_batch(rounds=1, size=16)
    assert out["batch 1"]["per_case_ratio_to_batch1"] == 1
    for b in (2, 4):
        row = out[f"batch {b}"]
        assert row["per_case_s"] == pytest.approx(row["step_s"] / b)
