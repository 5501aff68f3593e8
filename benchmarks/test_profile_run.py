"""The run profile (``benchmarks/profile_run.py``) splits time without double counting: a
region's exclusive time leaves out its children's, and the op profile of a victim step puts
the convolutions' work in the phases where it happens."""

import time

from benchmarks.profile_run import Regions, op_kind, op_profile


def test_exclusive_time_leaves_out_nested_regions():
    r = Regions()
    with r.region("outer"):
        time.sleep(0.05)
        with r.region("inner"):
            time.sleep(0.1)
        with r.region("inner"):
            time.sleep(0.1)
    outer, inner = r.totals["outer"], r.totals["inner"]
    assert inner["calls"] == 2 and outer["calls"] == 1
    assert 0.19 < inner["wall"] < 0.4
    assert 0.04 < outer["wall"] < 0.15  # its own 0.05 s, not the 0.25 s it spans


def test_op_kinds():
    assert op_kind("aten::convolution_backward") == "conv backward"
    assert op_kind("aten::mkldnn_convolution") == "conv forward"
    assert op_kind("aten::instance_norm") == "instance norm"
    assert op_kind("aten::_prelu_kernel_backward") == "PReLU"
    assert op_kind("aten::something_else") == "other ops"


def test_op_profile_of_a_small_unet_step():
    ops = op_profile("unet", "canary", steps=1)
    per_phase = ops["self_cpu_seconds_per_step"]
    assert per_phase["forward"]["conv forward"] > 0
    assert per_phase["backward"]["conv backward"] > 0
    assert "conv backward" not in per_phase["forward"]
    assert set(ops["wall_seconds_per_phase"]) == {"augment+batch", "forward", "loss",
                                                  "backward", "optimiser"}
