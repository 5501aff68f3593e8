"""The surrogate-learning study on a tiny preset: it logs a DSC curve per (condition, seed),
settings follow the method they are named after, a rerun computes nothing, and a file of other
settings is refused."""

import pytest

from benchmarks import surrogate_learning as study
from uebench.contracts import registry
from uebench.contracts.core import Preset


@pytest.fixture
def tiny_preset():
    saved = registry.presets.snapshot()
    registry.register_preset(Preset(name="study-tiny", volume_size=16, n_cases=5, epochs=1,
                                    batch_size=2, split=(3, 1, 1)))
    yield "study-tiny"
    registry.presets.restore(saved)


def args(tmp_path, preset, *extra):
    return ["--preset", preset, "--dataset", "spheres", "--seeds", "0", "--updates", "4",
            "--every", "2", "--out", str(tmp_path / "study.json"), *extra]


def test_settings_follow_the_method_and_the_override():
    voxshield = study.surrogate_settings("voxshield", "quick", {})
    assert (voxshield["act"], voxshield["weight_decay"]) == ("RELU", 5e-4)
    assert study.surrogate_settings("voxshield", "quick", {"act": "PRELU"})["act"] == "PRELU"
    em = study.surrogate_settings("em", "quick", {"lr_factor": 4.0})
    assert (em["act"], em["weight_decay"], em["lr"]) == ("PRELU", 0.0, 4 * 2e-3)


def test_the_curves_are_logged_resumed_and_refused_under_other_settings(tmp_path, monkeypatch,
                                                                        tiny_preset):
    monkeypatch.setenv("UEBENCH_CACHE", str(tmp_path / "cache"))
    parser_args = args(tmp_path, tiny_preset, "--condition", "vs-clean",
                       "--condition", "vs-random-roi")
    first = study.run(study_args(parser_args), log=lambda line: None)
    for name in ("vs-clean", "vs-random-roi"):
        curve = first["runs"][name]["0"]["curve"]
        assert [row["updates"] for row in curve] == [2, 4]
        assert all(0.0 <= row["dsc"] <= 1.0 for row in curve)
    again = study.run(study_args(parser_args), log=pytest.fail)  # nothing left to compute
    assert again["runs"] == first["runs"]
    with pytest.raises(SystemExit, match="holds runs of other settings"):
        study.run(study_args(args(tmp_path, tiny_preset, "--every", "1")))


def test_marks_are_read_off_the_curve():
    curve = [{"updates": 20, "dsc": 0.1}, {"updates": 40, "dsc": 0.6},
             {"updates": 60, "dsc": 0.95}]
    assert study.first_reaching(curve, 0.5) == 40 and study.first_reaching(curve, 0.99) is None
    assert study.at_updates(curve, 50) == 0.6 and study.at_updates(curve, 10) is None


def study_args(argv):
    """The parsed command line of ``python -m benchmarks.surrogate_learning``."""
    return study.parser().parse_args(argv)
