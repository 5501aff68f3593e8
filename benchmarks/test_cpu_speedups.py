"""The CPU speed-up benchmark (``benchmarks/cpu_speedups.py``) compares like with like: every
variant of a step starts from the same weights and batch, so eager's and a layout variant's
results agree, and the timing loop gives every variant the same number of updates."""

import pytest

from benchmarks.cpu_speedups import VARIANTS, time_variants, victim_steps, voxshield_steps

CHEAP = tuple(v for v in VARIANTS if not v.compiled)  # compiling takes minutes on 2 cores


@pytest.mark.parametrize("make_steps", [lambda: victim_steps("unet", CHEAP, size=16),
                                        lambda: voxshield_steps(CHEAP, size=16)],
                         ids=["unet", "voxshield"])
def test_variants_start_alike_and_take_the_same_updates(make_steps):
    times = time_variants(make_steps(), rounds=2, variants=CHEAP)
    eager = times["eager (harness)"]
    assert set(times) == {v.name for v in CHEAP}
    for row in times.values():
        assert row["median_s"] > 0
        assert row["first_result"] == pytest.approx(eager["first_result"], rel=1e-3)
        assert row["last_result"] == pytest.approx(eager["last_result"], rel=0.05)
    assert eager["last_result"] != eager["first_result"]  # the updates moved the weights
