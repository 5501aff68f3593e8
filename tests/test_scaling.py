"""The scale study: its presets (one axis moved from canary each), the split that keeps the
train-cases points' test cases, the paired difference, the scaling board and figure, and
`uebench sweep --axis` (planned only: every run is already recorded)."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from uebench.cli import main, sweep_presets
from uebench.contracts import registry
from uebench.contracts.core import Case, Preset
from uebench.contracts.presets import get_preset
from uebench.contracts.scaling import AXES, BASE, UnknownAxisError, axis_presets, axis_value
from uebench.grid.sweep import plan
from uebench.report.figures import palette, scaling_figure
from uebench.results import records, stats
from uebench.results.scaling import ScalingError, scaling_cells, scaling_table
from uebench.runner.data import preset_split

ARCHIVED = Path(__file__).resolve().parent.parent / "leaderboards/archive/protocol-2/cpu/records"
MOVED = {"surrogate-updates": {"surrogate_updates"}, "epochs": {"epochs"},
         "volume": {"volume_size"}, "train-cases": {"n_cases", "split", "split_pool"}}


# ------------------------------------------------------------------------------ presets


@pytest.mark.parametrize("axis", list(AXES))
def test_each_point_moves_one_axis_from_canary(axis):
    base = get_preset(BASE)
    values = [value for value, _ in AXES[axis]]
    assert values == sorted(values) and (axis_value(base, axis), BASE) in AXES[axis]
    for value, name in AXES[axis]:
        preset = get_preset(name)
        assert axis_value(preset, axis) == value
        changed = {f.name for f in fields(Preset)
                   if getattr(preset, f.name) != getattr(base, f.name)} - {"name"}
        assert changed == (MOVED[axis] if name != BASE else set())


def test_the_brief_s_points_are_registered_and_listed():
    assert [v for v, _ in AXES["surrogate-updates"]] == [120, 500, 1000, 2000]
    assert [v for v, _ in AXES["epochs"]] == [40, 100, 200]
    assert [v for v, _ in AXES["volume"]] == [32, 48, 64]
    assert [v for v, _ in AXES["train-cases"]] == [10, 20, 40]
    assert get_preset("canary-n40").split == (40, 2, 12)
    listed = CliRunner().invoke(main, ["list", "presets"])
    assert listed.exit_code == 0, listed.output
    for points in AXES.values():
        for _, name in points:
            assert f"  {name} " in listed.output
    assert "54 (40/2/12, val/test of the first 24)" in listed.output


def test_presets_without_a_pool_keep_their_cache_keys_and_records():
    assert "split_pool" not in get_preset(BASE).to_dict()
    assert get_preset("canary-n20").to_dict()["split_pool"] == 24
    with pytest.raises(ValueError, match="split_pool"):
        Preset(name="bad", volume_size=32, n_cases=10, epochs=1, batch_size=1,
               split=(5, 2, 3), split_pool=4)


def _cases(n: int) -> list[Case]:
    return [Case(f"brats-mni-{i:03d}", np.zeros((1, 2, 2, 2), np.float32),
                 np.zeros((2, 2, 2), np.uint8)) for i in range(n)]


def _ids(part: list[Case]) -> list[str]:
    return [case.id for case in part]


def test_train_cases_points_test_on_canary_s_cases_with_nested_training_sets():
    splits = {name: preset_split(_cases(get_preset(name).n_cases), get_preset(name))
              for _, name in AXES["train-cases"]}
    canary = splits[BASE]
    assert len(canary.test) == 12 and len(canary.val) == 2
    trained = []
    for value, name in AXES["train-cases"]:
        split = splits[name]
        assert _ids(split.test) == _ids(canary.test) and _ids(split.val) == _ids(canary.val)
        assert len(split.train) == value
        assert _ids(split.train)[:10] == _ids(canary.train)
        trained.append(set(_ids(split.train)))
    assert trained[0] < trained[1] < trained[2]


def test_without_the_pool_more_cases_would_change_the_test_cases():
    unpooled = Preset(name="unpooled", volume_size=32, n_cases=34, epochs=1, batch_size=1,
                      split=(20, 2, 12))
    canary = preset_split(_cases(24), get_preset(BASE))
    assert _ids(preset_split(_cases(34), unpooled).test) != _ids(canary.test)


def test_brats_mni_case_i_does_not_depend_on_how_many_cases_are_made():
    dataset = registry.datasets.get("brats-mni")()
    fewer = dataset.build(Preset("two", 16, 2, 1, 1), 0)
    more = dataset.build(Preset("three", 16, 3, 1, 1), 0)
    for case, same in zip(fewer, more):
        assert case.id == same.id
        np.testing.assert_array_equal(case.image, same.image)
        np.testing.assert_array_equal(case.label, same.label)


def test_method_defaults_follow_the_preset_only_through_surrogate_updates():
    base = get_preset(BASE)
    for method in registry.methods.names():
        cls = registry.methods.get(method)
        expected = cls.default_params(base)
        for points in AXES.values():
            for _, name in points:
                preset = get_preset(name)
                found = cls.default_params(preset)
                if "max_surrogate_updates" in expected:
                    assert found["max_surrogate_updates"] == preset.surrogate_updates
                    found = {**found, "max_surrogate_updates": base.surrogate_updates}
                assert found == expected, (method, name)


# --------------------------------------------------------------------------- statistics


def test_paired_difference_is_the_paired_test_s_difference_and_interval():
    control = {s: {f"c{i}": 0.8 + 0.01 * i + 0.01 * s for i in range(6)} for s in range(3)}
    lower = {s: {c: v - 0.2 + 0.002 * s for c, v in cases.items()}
             for s, cases in control.items()}
    mean, low, high = stats.paired_difference(lower, control)
    assert mean == pytest.approx(-0.198) and low <= mean <= high < 0
    assert stats.paired_below(lower, control) < stats.ALPHA
    two = {s: lower[s] for s in (0, 1)}
    mean, low, high = stats.paired_difference(two, control)
    assert mean == pytest.approx(-0.199) and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in stats.paired_difference({5: lower[0]}, control))


# -------------------------------------------------------------------------------- board

CLASSES = ["a", "b"]
N_CASES = 6


def record(method: str, preset: str, epsilon: float, seed: int, drop: float,
           short: bool = False) -> dict:
    """A protocol-3 record of ``method`` at ``preset``: the clean-trained victim scores
    0.85 + a per-case, per-seed offset; the protected-trained one ``drop`` less."""
    clean = [0.85 + 0.01 * ((i + seed) % 3) for i in range(N_CASES)]

    def stage(scores):
        cases = [{"id": f"brats-mni-{i:03d}", "dsc": dict.fromkeys(CLASSES, s)}
                 for i, s in enumerate(scores)]
        return {"evaluation": {"dsc_fg_mean": float(np.mean(scores)), "per_case": cases},
                "training": {}}

    spec = {"method": method, "victim": "unet", "dataset": "brats-mni", "defense": "none",
            "epsilon": epsilon, "seed": seed, "preset": preset, "method_params": {}}
    method_info = {"budget": {"norm": "linf", "epsilon": epsilon}}
    if short:
        method_info["surrogate"] = {"updates": 120, "train_dsc": 0.6, "fit_dsc": 0.9,
                                    "max_updates": 120, "reached_fit_dsc": False}
    protection = {"fidelity": {"linf": epsilon, "l2": 1.0, "psnr_whole": 50.0,
                               "psnr_roi": 40.0, "ssim_whole": 0.99, "ssim_roi": 0.98},
                  "throughput": {"wall_seconds": 1.0}}
    return records.assemble(
        f"{method}-{preset}-{epsilon:.4f}-{seed}", spec, {"device": "cpu"}, method_info,
        registry.methods.get(method).role, {"class_names": CLASSES, "label": "brats-mni"},
        {}, protection, stage(clean), stage([c - drop for c in clean]), 1.0)


DROPS = {"voxshield": 0.4, "em": 0.1, "random-roi": 0.02}


def study(presets=(BASE, "canary-u120", "canary-e100"), seeds=(0, 1, 2)) -> list[dict]:
    return [record(method, preset, epsilon, seed, drop * (1 if epsilon > 0.1 else 0.25),
                   short=(method == "voxshield" and preset == "canary-u120"))
            for preset in presets for method, drop in DROPS.items()
            for epsilon in (8 / 255, 32 / 255) for seed in seeds]


def write(folder: Path, made: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for one in made:
        (folder / f"{one['run_id']}.json").write_text(json.dumps(one))
    return folder


def test_board_places_each_preset_on_its_axes_with_the_paired_difference():
    cells = scaling_cells(study() + [record("clean", BASE, 8 / 255, 0, 0.0)])
    assert set(cells["method"]) == {"voxshield", "em", "random-roi"}
    canary = cells[cells["preset"] == BASE]
    assert sorted(canary["axis"].unique()) == sorted(AXES)  # the base is on every axis
    updates = cells[(cells["axis"] == "surrogate-updates") & (cells["method"] == "voxshield")
                    & (cells["budget_label"] == "32/255")]
    assert updates["value"].tolist() == [120, 1000]
    assert updates["diff_mean"].to_numpy() == pytest.approx([-0.38, -0.38])
    assert (updates["diff_hi"] < 0).all() and (updates["p_below_control"] < 0.05).all()
    assert updates["surrogate_short_seeds"].tolist() == [3, 0]
    control = cells[cells["method"] == "random-roi"]
    assert control["diff_mean"].isna().all() and control["p_below_control"].isna().all()
    em_small = cells[(cells["method"] == "em") & (cells["budget_label"] == "8/255")]
    assert em_small["diff_mean"].to_numpy() == pytest.approx(-0.02)


def test_board_text_marks_the_short_surrogate_and_shows_the_point_alone_below_3_seeds():
    table = scaling_table(scaling_cells(study(seeds=(0, 1))
                                        + study(presets=("canary-u500",))))
    u120 = table[(table["preset"] == "canary-u120") & (table["method"] == "voxshield")]
    assert all(text.endswith(records.SURROGATE_MARK) for text in u120["protected_dsc_95ci"])
    assert u120["minus_random_roi_95ci"].tolist() == ["-0.095", "-0.380"]
    u500 = table[(table["preset"] == "canary-u500") & (table["method"] == "voxshield")]
    assert all(" [" in text and text.endswith("↓") for text in u500["minus_random_roi_95ci"])
    assert (table[table["method"] == "random-roi"]["minus_random_roi_95ci"] == "").all()
    assert table["clean_trained_95ci"].str.match(r"0\.8\d\d \[").all()


def test_each_cell_is_also_compared_with_the_clean_trained_victim_control_included():
    cells = scaling_cells(study(presets=(BASE,)))
    cells = cells[cells["axis"] == "epochs"]  # the base stands on every axis
    by_cell = cells.set_index(["method", "budget_label"])
    expected = {"voxshield": 0.4, "em": 0.1, "random-roi": 0.02}
    for method, drop in expected.items():
        assert by_cell.loc[(method, "32/255"), "clean_diff_mean"] == pytest.approx(-drop)
        assert by_cell.loc[(method, "8/255"), "clean_diff_mean"] == pytest.approx(-drop / 4)
        assert by_cell.loc[(method, "32/255"), "clean_diff_hi"] < 0
    assert cells["below_clean"].all() and (cells["p_below_clean"] < stats.ALPHA).all()
    table = scaling_table(cells)
    control = table[table["method"] == "random-roi"]
    assert (control["minus_random_roi_95ci"] == "").all()
    assert control["minus_clean_trained_95ci"].str.match(r"-0\.0\d\d \[.*\] ↓$").all()
    rising = scaling_cells([record("random-roi", BASE, 8 / 255, s, -0.03) for s in range(3)])
    assert rising["clean_diff_mean"].to_numpy() == pytest.approx([0.03] * len(AXES))
    assert not rising["below_clean"].any()


def test_records_of_no_study_preset_are_a_clear_error():
    with pytest.raises(ScalingError, match="no scale-study records"):
        scaling_cells(records.load_records(ARCHIVED))


# ------------------------------------------------------------------------ command line


def test_scaling_command_writes_the_board_and_the_figure(tmp_path):
    folder = write(tmp_path / "records", study())
    figure = tmp_path / "figures" / "scaling.png"
    result = CliRunner().invoke(main, ["scaling", str(folder), "--out", str(tmp_path / "out"),
                                       "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "out" / "scaling.md").read_text()
    assert board.startswith("# uebench leaderboard: scaling\n\n"
                            f"Protocol {records.PROTOCOL_VERSION}, victims trained on CPU. "
                            "The scale study")
    assert "minus_random_roi_95ci" in board and "canary-e100" in board
    assert "minus_clean_trained_95ci" in board and "p_below_clean_trained" in board
    assert (tmp_path / "out" / "scaling.csv").read_text().startswith("axis,value,preset,")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_without_a_protection_is_a_text_panel(tmp_path):
    controls = [r for r in study() if r["spec"]["method"] == "random-roi"]
    cells = scaling_cells(controls)
    name = scaling_figure(cells, palette(dict(zip(cells["method"], cells["role"]))), tmp_path,
                          "scaling.png", "title")
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("where", ["archived", "missing"])
def test_scaling_command_without_study_records_exits_2_in_one_line(tmp_path, where):
    folder = ARCHIVED if where == "archived" else tmp_path / "nowhere"
    result = CliRunner().invoke(main, ["scaling", str(folder), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "scaling.md").exists()


# ------------------------------------------------------------------------------- sweep


def test_axes_expand_to_their_presets_each_once():
    assert axis_presets(["surrogate-updates"]) == ["canary-u120", "canary-u500", BASE,
                                                  "canary-u2000"]
    assert sweep_presets((), ()) == ["quick"]
    assert sweep_presets(("quick", BASE), ("epochs", "volume")) == [
        "quick", BASE, "canary-e100", "canary-e200", "canary-v48", "canary-v64"]
    with pytest.raises(UnknownAxisError, match="Known: surrogate-updates"):
        axis_presets(["width"])


def test_sweep_axis_plans_the_runs_of_each_point(tmp_path):
    names = axis_presets(["surrogate-updates"])
    planned = [spec for name in names
               for spec in plan(["random-roi"], ["unet"], [8 / 255], [0], "brats-mni", name)]
    (tmp_path / "records").mkdir()
    for spec in planned:  # recorded already: the sweep plans them and trains nothing
        (tmp_path / "records" / f"{spec.run_id()}.json").write_text("{}")
    result = CliRunner().invoke(main, [
        "sweep", "--method", "random-roi", "--victim", "unet", "--eps", "8/255",
        "--axis", "surrogate-updates", "--out", str(tmp_path), "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len({spec.run_id() for spec in planned}) == 4
    assert ("4 runs in the grid, 4 already recorded; presets canary-u120, canary-u500, "
            "canary, canary-u2000") in result.output


def test_a_long_figure_title_is_wrapped_inside_the_figure(tmp_path, monkeypatch):
    from uebench.report import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda figure, out, name: drawn.append(figure) or name)
    cells = scaling_cells(study())
    scaling_figure(cells, palette(dict(zip(cells["method"], cells["role"]))), tmp_path,
                   "scaling.png", "a long title " * 20)
    figure = drawn[0]
    renderer = figure.canvas.get_renderer()
    title = figure._suptitle.get_window_extent(renderer)
    assert "\n" in figure._suptitle.get_text()
    assert title.x0 >= 0 and title.x1 <= figure.bbox.width
