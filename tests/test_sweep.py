"""The sweep: the grid it plans, and a resumed sweep that redoes nothing."""

import torch
from click.testing import CliRunner

from uebench.cli import main
from uebench.grid.sweep import execute, pending, plan, stage_graph


def test_plan_is_victim_major_and_runs_l0_methods_once():
    specs = plan(["random", "ops"], ["unet", "unet2d"], [4 / 255, 8 / 255], [0, 1], "spheres",
                 "tiny")
    keys = [(s.victim, s.epsilon, s.method, s.seed) for s in specs]
    assert keys[:4] == [("unet", 4 / 255, "random", 0), ("unet", 4 / 255, "random", 1),
                        ("unet", 4 / 255, "ops", 0), ("unet", 4 / 255, "ops", 1)]
    assert ("unet", 8 / 255, "ops", 0) not in keys and ("unet", 8 / 255, "random", 1) in keys
    assert len(specs) == 2 * (2 * 2 + 2)


def test_sweep_runs_the_grid_then_resumes_without_rerunning(tmp_path):
    args = ["sweep", "--method", "clean", "--method", "ops", "--victim", "unet", "--eps",
            "4/255", "--eps", "8/255", "--dataset", "spheres", "--preset", "tiny", "--out",
            str(tmp_path / "runs"), "--device", "cpu", "--quiet"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "3 runs in the grid, 0 already recorded" in first.output
    assert first.output.count("DSC ") == 3
    assert len(list((tmp_path / "runs" / "records").glob("*.json"))) == 3
    assert pending(plan(["clean", "ops"], ["unet"], [4 / 255, 8 / 255], [0], "spheres", "tiny"),
                   tmp_path / "runs") == []
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "3 already recorded" in again.output
    assert "DSC " not in again.output


def test_sweep_rejects_an_unknown_method_before_running(tmp_path):
    result = CliRunner().invoke(main, ["sweep", "--method", "opps", "--victim", "unet",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2 and "ops" in result.output


def test_stage_graph_shares_protections_and_clean_victims():
    specs = plan(["random", "clean"], ["unet", "unet2d"], [4 / 255], [0], "spheres", "tiny")
    tasks = stage_graph(specs)
    stages = [t.stage for t in tasks]
    # one protection per method (shared by both victims), one clean victim per victim
    assert stages.count("protect") == 2 and stages.count("clean_victim") == 2
    assert stages.count("protected_victim") == 4 and stages.count("record") == 4
    keys = {t.key for t in tasks}
    assert all(set(t.needs) <= keys for t in tasks)


def test_parallel_sweep_writes_the_same_records_as_one_process(tmp_path):
    specs = plan(["clean", "random"], ["unet"], [8 / 255], [0], "spheres", "tiny")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: same arithmetic, same numbers
    try:
        serial = execute(specs, tmp_path / "serial", "cpu", workers=1)
    finally:
        torch.set_num_threads(threads)
    seen = []
    parallel = execute(specs, tmp_path / "parallel", "cpu", workers=2, threads=1,
                       report=seen.append)
    assert len(seen) == 2 and not any(o.error for o in serial + parallel)

    def numbers(outcomes):
        return {o.record["run_id"]: (o.record["efficacy"]["clean_trained"]["dsc_fg_mean"],
                                     o.record["efficacy"]["protected_trained"]["dsc_fg_mean"],
                                     o.record["fidelity"]["l2"]) for o in outcomes}

    assert numbers(serial) == numbers(parallel)
    assert pending(specs, tmp_path / "parallel") == []


def test_plan_makes_each_defense_a_column_in_its_canonical_spelling():
    specs = plan(["random"], ["unet"], [4 / 255], [0], "spheres", "tiny",
                 ["none", "affine+zlowpass"])
    assert [s.defense for s in specs] == ["none", "zlowpass+affine"]
