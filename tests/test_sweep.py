"""The sweep: the grid it plans, the identity of its stages (one definition with the
pipeline's cache keys, whose values are pinned), and a resumed sweep that redoes nothing."""

from dataclasses import fields, replace

import pytest
import torch
from click.testing import CliRunner

from uebench.cli import main
from uebench.grid.sweep import execute, pending, plan, stage_graph
from uebench.runner.data import fingerprint
from uebench.runner.pipeline import Pipeline, RunSpec, resolve
from uebench.runner.stages import INPUTS, protection_key, stage_id, victim_key


def test_plan_is_victim_major_and_runs_l0_methods_once():
    specs = plan(["random", "ops"], ["unet", "unet2d"], [4 / 255, 8 / 255], [0, 1], "spheres",
                 "tiny")
    keys = [(s.victim, s.epsilon, s.method, s.seed) for s in specs]
    assert keys[:4] == [("unet", 4 / 255, "random", 0), ("unet", 4 / 255, "random", 1),
                        ("unet", 4 / 255, "ops", 0), ("unet", 4 / 255, "ops", 1)]
    assert ("unet", 8 / 255, "ops", 0) not in keys and ("unet", 8 / 255, "random", 1) in keys
    assert len(specs) == 2 * (2 * 2 + 2)
    # whatever a sweep's budgets, the same L0 run: a later sweep at 16/255 finds its record
    later = plan(["ops"], ["unet"], [16 / 255], [0], "spheres", "tiny")
    assert [s.run_id() for s in later] == [s.run_id() for s in specs
                                           if s.method == "ops" and s.victim == "unet"
                                           and s.seed == 0]


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


def test_sweep_lines_name_the_defense_of_a_defended_run(tmp_path):
    result = CliRunner().invoke(main, [
        "sweep", "--method", "clean", "--victim", "unet", "--dataset", "spheres", "--preset",
        "tiny", "--defense", "gaussian:sigma=1.5", "--out", str(tmp_path), "--device", "cpu",
        "--quiet"])
    assert result.exit_code == 0, result.output
    assert "seed 0, defense gaussian:sigma=1.5: DSC " in result.output


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


# Keys computed by the pipeline at protocol 4 (a protection's key holds the preset less the
# fields only victims read, and which splits it covers; a victim's, training version 2: the
# test curve and the recipes; at protocol 3, f56ffbdb93b7c44e for the protection and
# f7b1cb879b81070d / 8bf3904b5a3731dc for the victims): every protocol-4 cache and the canary
# are stored under keys like these, and preset fields added since leave them alone.
CANARY = RunSpec(method="voxshield", victim="unet", dataset="brats-mni", epsilon=4 / 255,
                 seed=2, preset="canary", method_params={"s_steps": 3})
TINY_RUN = RunSpec(method="random", victim="unet", dataset="spheres", epsilon=8 / 255, seed=1,
                   preset="tiny")


def test_cache_keys_keep_their_values():
    r = resolve(CANARY)
    data_fp = fingerprint(r.dataset, r.preset)
    protect = protection_key(data_fp, r.method, CANARY.seed, r.preset)
    assert (data_fp, protect) == ("9810f210b46da708", "65b2c9f4c302073a")
    model = r.victim.build(4, r.dataset.n_classes, r.preset)
    clean = victim_key(data_fp, "unet", model, r.preset, 2, {"protection": None,
                                                            "defense": None})
    defended = victim_key(data_fp, "unet", model, r.preset, 2, {"protection": protect,
                                                               "defense": "zlowpass"})
    assert (clean, defended) == ("21216bd9cf8005b4", "c6e661590dabe39b")


def test_the_pipeline_caches_its_stages_under_the_same_keys(tmp_path):
    pipeline = Pipeline(tmp_path / "run", device="cpu", progress=False)
    for stage in ("protect", "clean_victim", "protected_victim"):
        pipeline.stage(TINY_RUN, stage)
    pipeline.stage(replace(TINY_RUN, defense="zlowpass"), "protected_victim")
    cache = tmp_path / "run" / "cache"
    cached = {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}
    assert cached == {"protect/b28992a0679c93af.json", "protect/b28992a0679c93af.npz",
                      "victim/a42c0a1725560b2f.json",  # clean-trained
                      "victim/1d9d3e00fdd9ab1d.json",  # protected-trained
                      "victim/abb2242e48acfab8.json"}  # protected-trained, zlowpass


VARIANTS = {"method": "random-roi", "victim": "unet2d", "dataset": "brats-mni",
            "defense": "zlowpass", "epsilon": 16 / 255, "seed": 3, "preset": "canary",
            "method_params": {"steps": 3}}


def test_every_spec_field_identifies_the_run_and_the_variants_cover_them():
    assert set(INPUTS["record"]) == {f.name for f in fields(RunSpec)} == set(VARIANTS)
    assert all(set(inputs) <= set(INPUTS["record"]) for inputs in INPUTS.values())


@pytest.mark.parametrize("stage", sorted(INPUTS))
def test_a_stage_id_changes_with_exactly_the_fields_the_stage_depends_on(stage):
    for name, value in VARIANTS.items():
        changed = stage_id(stage, replace(TINY_RUN, **{name: value})) != stage_id(stage,
                                                                                 TINY_RUN)
        assert changed == (name in INPUTS[stage]), (stage, name)


def test_specs_that_share_a_protection_id_share_its_cache_key_and_no_others_do():
    def key(spec):
        r = resolve(spec)
        return protection_key(fingerprint(r.dataset, r.preset), r.method, spec.seed, r.preset)

    base = replace(TINY_RUN, method="em")
    for name, value in VARIANTS.items():
        other = replace(base, **{name: value})
        same_id = stage_id("protect", other) == stage_id("protect", base)
        assert (key(other) == key(base)) == same_id, name


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage 'protection'"):
        stage_id("protection", TINY_RUN)
