"""Sweep executors: a local Ray cluster and submitit's local executor give the records the
local executor gives; a killed sweep restarted completes; an ask no engine can meet fails at
once, in one line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import ray
import torch
from click.testing import CliRunner

from uebench.cli import main
from uebench.contracts.conformance import CONFORMANCE_PRESET
from uebench.contracts.registry import register_preset
from uebench.grid.executors import ExecutorError, execute_slurm, ray_slots
from uebench.grid.sweep import execute, plan

# Registered in this process only: the workers (spawned processes, Ray, submitit) get it from
# the driver's registry.
register_preset(CONFORMANCE_PRESET)

GRID = ["--method", "clean", "--method", "random", "--method", "random-roi", "--victim", "unet",
        "--eps", "8/255", "--dataset", "spheres", "--preset", "conformance", "--device", "cpu",
        "--quiet"]

# A sweep in another process, which the test kills: the CLI with the test's preset registered.
SWEEP_PROCESS = """
import sys
from uebench.cli import main
from uebench.contracts.conformance import CONFORMANCE_PRESET
from uebench.contracts.registry import register_preset
register_preset(CONFORMANCE_PRESET)
main(sys.argv[1:])
"""


def grid_specs():
    return plan(["clean", "random", "random-roi"], ["unet"], [8 / 255], [0], "spheres",
                "conformance")


def numbers(out):
    """Run id -> (clean-trained DSC, protected-trained DSC, L2) of the records in ``out``."""
    records = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    return {r["run_id"]: (r["efficacy"]["clean_trained"]["dsc_fg_mean"],
                          r["efficacy"]["protected_trained"]["dsc_fg_mean"],
                          r["fidelity"]["l2"]) for r in records}


@pytest.fixture(scope="module")
def ray_cluster():
    """One small local cluster for the module (starting one takes ~10 s)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_numbers(tmp_path_factory):
    """The grid's records from the local executor, one torch thread (as every worker here)."""
    root = tmp_path_factory.mktemp("local")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UEBENCH_CACHE", str(root / "cache"))
        torch.set_num_threads(1)
        try:
            outcomes = execute(grid_specs(), root / "runs", "cpu")
        finally:
            torch.set_num_threads(threads)
    assert not any(o.error for o in outcomes)
    return numbers(root / "runs")


def test_ray_slots_count_what_fits_and_refuse_what_never_will():
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}},
             {"Alive": True, "Resources": {"CPU": 4.0}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]
    assert ray_slots(nodes, 1, 0.0) == 12
    assert ray_slots(nodes, 2, 0.5) == 4  # the GPU node: 8 CPUs / 2, 2 GPUs / 0.5
    with pytest.raises(ExecutorError, match="no node .* 16 CPUs"):
        ray_slots(nodes, 16, 0.0)
    with pytest.raises(ExecutorError, match="has no GPU"):
        ray_slots(nodes[1:], 1, 1.0)


@pytest.mark.slow
def test_ray_sweep_writes_the_same_records_as_local(ray_cluster, local_numbers, tmp_path):
    result = CliRunner().invoke(main, ["sweep", *GRID, "--executor", "ray", "--threads", "1",
                                       "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "3 runs in the grid, 0 already recorded; executor ray" in result.output
    assert numbers(tmp_path / "runs") == local_numbers


def test_gpu_request_on_a_cpu_only_ray_cluster_fails_at_once(ray_cluster, tmp_path):
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["sweep", *GRID, "--executor", "ray", "--gpus-per-task",
                                       "1", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    error = result.output.strip().splitlines()[-1]
    assert error == ("Error: --gpus-per-task 1: the Ray cluster has no GPU; use --gpus-per-task "
                     "0 (and --device cpu) or a cluster with GPUs")
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "runs" / "records").exists()


@pytest.mark.slow
def test_killed_sweep_restarted_on_ray_completes_with_no_duplicate_or_lost_record(
        ray_cluster, local_numbers, tmp_path):
    out = tmp_path / "runs"
    records = out / "records"
    process = subprocess.Popen([sys.executable, "-c", SWEEP_PROCESS, "sweep", *GRID, "--out",
                                str(out)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not list(records.glob("*.json")) and time.monotonic() < deadline:
            assert process.poll() is None, "the sweep ended before its first record"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    kept = {p.name: p.read_bytes() for p in records.glob("*.json")}
    assert 1 <= len(kept) < 3, "killed mid-way: some records landed, not all"
    again = CliRunner().invoke(main, ["sweep", *GRID, "--executor", "ray", "--threads", "1",
                                      "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert f"3 runs in the grid, {len(kept)} already recorded" in again.output
    assert again.output.count("DSC ") == 3 - len(kept)  # only the missing runs ran
    assert {p.name: p.read_bytes() for p in records.glob("*.json") if p.name in kept} == kept
    assert sorted(p.name for p in records.glob("*.json")) == sorted(
        f"{s.run_id()}.json" for s in grid_specs())
    assert numbers(out) == local_numbers


@pytest.mark.slow
def test_submitit_local_executor_runs_one_cell(local_numbers, tmp_path):
    spec = next(s for s in grid_specs() if s.method == "random")
    outcomes = execute_slurm([spec], tmp_path / "runs", "cpu", cluster="local", threads=1)
    assert [o.error for o in outcomes] == [None]
    assert outcomes[0].path.parent == tmp_path / "runs" / "records"
    assert numbers(tmp_path / "runs") == {spec.run_id(): local_numbers[spec.run_id()]}
    assert list((tmp_path / "runs" / "slurm").glob("*_log.out"))  # the jobs' own logs


def test_slurm_without_sbatch_and_options_of_another_executor_are_one_line_errors(tmp_path):
    def error(*extra):
        result = CliRunner().invoke(main, ["sweep", *GRID, "--out", str(tmp_path), *extra])
        assert result.exit_code == 2
        return result.output.strip().splitlines()[-1]

    if shutil.which("sbatch") is None:
        assert "no sbatch on this machine" in error("--executor", "slurm")
    assert "--address is for --executor ray" in error("--address", "auto")
    assert "--executor slurm" in error("--executor", "ray", "--slurm-param", "mem_gb=8")
