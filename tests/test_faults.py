"""Crash-safety of a sweep: killed with SIGKILL at 10 seeded random moments and restarted, it
ends with the records of an uninterrupted sweep; four sweeps writing into one ``--out`` at once
leave every file whole, one record per run id and no temp file.

Each sweep is a child forked from one server process (``serve``, this module run as a script)
that imported uebench, torch and MONAI once: a fresh interpreter spends ~10 s importing on two
busy cores, and ten kills and restarts would spend it twenty times. To the files a child is a
whole ``uebench sweep`` process: it runs the CLI's ``main`` and dies of SIGKILL with no chance
to clean up. Every child uses one torch thread, as the canary does, so that its numbers are
bit-for-bit those of any other child, and reads the calibration workload's time (a measurement
the records compared here leave out) from the server instead of timing it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from uebench.contracts.core import Preset

ROOT = Path(__file__).resolve().parents[1]
# Three methods (a control, a dense L-inf one, the L0 one) x 2 seeds = 6 records from 10
# stages (the clean method's protected victim is its clean-trained one), a few seconds.
FAULT = Preset(name="fault", volume_size=16, n_cases=6, epochs=1, batch_size=2, lr=2e-3,
               split=(3, 1, 2))
GRID = ["sweep", "--method", "clean", "--method", "random", "--method", "ops", "--victim",
        "unet", "--seed", "0", "--seed", "1", "--dataset", "spheres", "--preset", "fault",
        "--device", "cpu", "--quiet"]
RECORDS = 6
CHILD_TIMEOUT = 300  # seconds; one grid takes a few
# Record fields that are measurements of the machine rather than functions of the spec: wall
# times, rates and peak memory (a restart measures again, or reads the killed sweep's cached
# stage), and which stages a run found in the cache (a restart finds the killed sweep's).
MEASURED = {"run_seconds", "stage_seconds", "cached_stages", "fit_seconds", "perturb_seconds",
            "wall_seconds", "volumes_per_second", "voxels_per_second",
            "perturb_volumes_per_second", "seconds_per_epoch", "calibration_seconds",
            "peak_process_rss_mb", "peak_cuda_memory_mb"}
TEMP_SUFFIX = ".tmp"  # uebench.runner.store's temp files: ``.<name>.<random>.tmp``


# ------------------------------------------------------------------------------ the server


def serve() -> None:
    """Read job lists (JSON, one a line) from stdin; for each, fork one child per job, all at
    once, and answer with their exit codes (negative: the signal that ended one)."""
    import torch

    torch.set_num_threads(1)
    from uebench.contracts import registry
    from uebench.contracts.registry import register_preset
    from uebench.runner import calibration

    register_preset(FAULT)
    # A timing (one of MEASURED) that costs half of this grid's CPU: timed once, here.
    seconds = calibration.calibration_seconds()
    calibration.calibration_seconds = lambda device=None: seconds
    for kind in (registry.methods, registry.victims, registry.datasets):
        kind.names()  # plugin modules imported here, once
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first call imports dynamo
    for line in sys.stdin:
        pids = [_fork(job) for job in json.loads(line)]
        print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]),
              flush=True)


def _fork(job: dict[str, Any]) -> int:
    """A child running ``uebench`` with ``job['argv']``, its output in ``job['log']``; with
    ``job['kill_at_write']`` = k it SIGKILLs itself as its k-th write is about to be renamed
    into place (the temp file written, the file not yet there)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.environ.update(job["env"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        signal.alarm(CHILD_TIMEOUT)  # a hung child dies (SIGALRM) instead of hanging the test
        if job.get("kill_at_write"):
            _die_at_rename(job["kill_at_write"])
        from uebench.cli import main

        main(job["argv"], prog_name="uebench")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child's traceback goes to its log
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_at_rename(k: int) -> None:
    """SIGKILL this process in its k-th ``os.replace``, before the rename."""
    rename, count = os.replace, itertools.count(1)

    def replace(source, target):
        if next(count) == k:
            os.kill(os.getpid(), signal.SIGKILL)
        rename(source, target)

    os.replace = replace


# ------------------------------------------------------------------------------ the tests


class Server:
    """The test's end of ``serve``."""

    def __init__(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.test_faults"], cwd=ROOT,
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def run(self, *jobs: dict[str, Any]) -> list[int]:
        """The exit codes of ``jobs``, run at once."""
        self.process.stdin.write(json.dumps(jobs) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, "the sweep server died"
        return json.loads(answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def sweep(out: Path, log: str = "sweep.log", kill_at_write: int | None = None
          ) -> dict[str, Any]:
    """A job: the grid into ``out``, its datasets cached in ``out/data`` (so that a kill can
    also land in their generation)."""
    out.mkdir(parents=True, exist_ok=True)
    return {"argv": [*GRID, "--out", str(out)], "env": {"UEBENCH_CACHE": str(out / "data")},
            "log": str(out.parent / f"{out.name}-{log}"), "kill_at_write": kill_at_write}


def without_measurements(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_measurements(v) for k, v in value.items() if k not in MEASURED}
    if isinstance(value, list):
        return [without_measurements(v) for v in value]
    return value


def records(out: Path) -> dict[str, Any]:
    """The records under ``out/records`` by file name, their measured fields left out."""
    return {path.name: without_measurements(json.loads(path.read_text()))
            for path in sorted((out / "records").glob("*.json"))}


def check_files(out: Path) -> list[Path]:
    """Assert every JSON and NPZ under ``out`` loads and each record is named by its run id;
    returns the temp files left behind."""
    for path in out.rglob("*.json"):
        payload = json.loads(path.read_text())
        if path.parent.name == "records":
            assert payload["run_id"] == path.stem, path
    for path in out.rglob("*.npz"):
        with np.load(path) as arrays:
            for key in arrays.files:
                arrays[key]  # noqa: B018 - decompresses: a torn file fails here
    return [p for p in out.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


@pytest.fixture(scope="module")
def server():
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory) -> tuple[dict[str, Any], int]:
    """The uninterrupted sweep's records, and how many files it wrote (each write makes one:
    a temp file renamed into place)."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    assert server.run(sweep(out)) == [0], (out.parent / "reference-sweep.log").read_text()
    expected = records(out)
    assert len(expected) == RECORDS and not check_files(out)
    return expected, sum(path.is_file() for path in out.rglob("*"))


@pytest.mark.slow
def test_a_sweep_killed_at_10_random_moments_then_restarted_ends_as_an_uninterrupted_one(
        server, reference, tmp_path):
    """Killed in its k-th write for 10 seeded random k: between two writes a process changes
    nothing on disk, so these moments leave every state a kill at any instant can leave (a
    partly written temp file is as unread as a whole one)."""
    expected, writes = reference
    for trial, k in enumerate(sorted(random.Random(18).sample(range(1, writes + 1), 10))):
        out = tmp_path / f"trial-{trial}"
        killed = server.run(sweep(out, "killed.log", kill_at_write=k))
        assert killed == [-signal.SIGKILL], (out.parent / f"{out.name}-killed.log").read_text()
        assert len(check_files(out)) == 1  # the temp file of the write it was killed in
        restarted = server.run(sweep(out, "restarted.log"))
        assert restarted == [0], (out.parent / f"{out.name}-restarted.log").read_text()
        assert records(out) == expected, f"killed in write {k} of {writes}"
        assert len(check_files(out)) == 1  # left there, never read


@pytest.mark.slow
def test_four_sweeps_writing_into_one_out_at_once_leave_whole_files_one_record_per_run(
        server, reference, tmp_path):
    expected, _ = reference
    out = tmp_path / "shared"
    codes = server.run(*(sweep(out, f"{i}.log") for i in range(4)))
    logs = "\n".join((tmp_path / f"shared-{i}.log").read_text() for i in range(4))
    assert codes == [0] * 4, logs
    assert check_files(out) == []
    assert sorted(p.name for p in (out / "records").iterdir()) == sorted(expected)
    assert records(out) == expected


if __name__ == "__main__":
    serve()
