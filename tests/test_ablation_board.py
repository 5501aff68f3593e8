"""VoxShield's ablation board and saturation table, from records made like the scale study's
test records, with a per-epoch generator history added."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.test_scaling import record, write
from uebench.cli import main
from uebench.results.ablation_board import (
    AblationError,
    ablation_cells,
    frozen_from,
    saturation_rows,
    saturation_table,
    variant,
)


def history(at_bound: list[float], flipped: list[float], dsc: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "roi_at_bound": a, "roi_sign_flipped": f,
             "surrogate_train_dsc": d, "zdiv": 1.5}
            for i, (a, f, d) in enumerate(zip(at_bound, flipped, dsc))]


def voxshield(params: dict, seed: int, drop: float, steps: list[dict] | None = None) -> dict:
    made = record("voxshield", "canary", 4 / 255, seed, drop)
    made["spec"]["method_params"] = params
    made["method"]["params"] = {"schedule": "fit-rule", **params}
    made["method"]["history"] = steps or []
    return made


def ablation(seeds=(0, 1, 2)) -> list[dict]:
    return ([record(m, "canary", 4 / 255, s, d) for m, d in (("random-roi", 0.01),
                                                            ("clean", 0.0)) for s in seeds]
            + [voxshield({}, s, 0.0) for s in seeds]
            + [voxshield({"lambda_z": 0}, s, 0.05) for s in seeds])


def test_variant_names_the_override_or_the_default():
    assert variant("voxshield") == "default"
    assert variant("voxshield[lambda_z=0,lambda_l=0]") == "lambda_z=0,lambda_l=0"
    assert variant("random-roi") == "random-roi"


def test_cells_put_each_variant_beside_the_controls_with_its_paired_difference():
    cells = ablation_cells(ablation())
    assert cells["value"].tolist() == ["default", "lambda_z=0", "clean", "random-roi"]
    ablated = cells[cells["value"] == "lambda_z=0"].iloc[0]
    assert ablated["diff_mean"] == pytest.approx(-0.04)
    assert ablated["p_below_control"] < 0.05
    default = cells[cells["value"] == "default"].iloc[0]
    assert default["diff_mean"] == pytest.approx(0.01) and default["p_below_control"] > 0.5


def test_no_voxshield_or_several_presets_is_a_clear_error():
    with pytest.raises(AblationError, match="nothing to ablate"):
        ablation_cells([record("random-roi", "canary", 4 / 255, 0, 0.01)])
    with pytest.raises(AblationError, match="one preset"):
        ablation_cells(ablation() + [record("voxshield", "quick", 4 / 255, 0, 0.1)])


def test_frozen_epoch_is_where_flips_stay_below_the_threshold_to_the_end():
    assert frozen_from([0.2, 0.01, 0.0005, 0.0, 0.0]) == 3
    assert frozen_from([0.2, 0.0, 0.05, 0.0, 0.0]) == 4  # a late burst restarts the count
    assert frozen_from([0.2, 0.0, 0.05]) is None


def test_saturation_rows_and_table_read_the_history():
    fast = history([0.3, 0.9, 0.99, 0.99], [float("nan"), 0.02, 0.0, 0.0], [0.0, 0.0, 0.1, 0.5])
    slow = history([0.1, 0.4, 0.7, 0.9], [float("nan"), 0.1, 0.05, 0.0], [0.0, 0.3, 0.6, 0.9])
    rows = saturation_rows([voxshield({}, 0, 0.0, fast), voxshield({"lambda_z": 0}, 0, 0.1, slow),
                            record("random-roi", "canary", 4 / 255, 0, 0.01)])
    assert rows["variant"].tolist() == ["default", "lambda_z=0"]
    assert rows["frozen_epoch"].tolist() == [3, 4]
    assert rows["surrogate_dsc_frozen"].tolist() == [0.1, 0.9]
    assert rows["at_bound_last"].tolist() == [0.99, 0.9]
    table = saturation_table(rows).set_index("variant")
    assert table.loc["default", "at_bound_e1_%"] == 30.0
    assert table.loc["lambda_z=0", "frozen_epoch"] == "4"


def test_cli_writes_both_boards_and_the_saturation_figure(tmp_path):
    runs = ablation()
    for made in runs:
        if made["spec"]["method"] == "voxshield":
            made["method"]["history"] = history([0.3, 0.9], [float("nan"), 0.0], [0.1, 0.2])
    folder = write(tmp_path / "records", runs)
    figure = tmp_path / "out" / "saturation.png"
    result = CliRunner().invoke(main, ["ablation", str(folder), "--out",
                                       str(tmp_path / "out"), "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    assert "voxshield[lambda_z=0]" in (tmp_path / "out" / "ablation.md").read_text()
    assert "frozen_epoch" in (tmp_path / "out" / "saturation.md").read_text()
    assert figure.stat().st_size > 10_000


def test_cli_refuses_records_without_voxshield_in_one_line(tmp_path):
    folder = write(tmp_path / "records", [record("random-roi", "canary", 4 / 255, 0, 0.01)])
    result = CliRunner().invoke(main, ["ablation", str(folder), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "nothing to ablate" in result.output
