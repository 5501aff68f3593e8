"""A local sweep's workers end with their driver, even one killed mid-stage (a stopped sweep
once left two workers training for half an hour on shared cores)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

DRIVER = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing
    from uebench.contracts import registry
    from uebench.grid import sweep

    def write_pid_and_sleep(path):
        import os
        with open(path, "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(120)

    if __name__ == "__main__":
        initializer = getattr(sweep, sys.argv[2])
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=initializer,
                                   initargs=(1, registry.presets.snapshot()))
        pool.submit(write_pid_and_sleep, sys.argv[1])
        time.sleep(120)
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie has ended
        return handle.read().split(")")[-1].split()[0] != "Z"


def worker_survives_its_killed_driver(tmp_path, initializer: str) -> bool:
    """Start a driver whose one worker sleeps in a stage, SIGKILL the driver, and say whether
    the worker is still alive 5 s later."""
    script, pid_file = tmp_path / "driver.py", tmp_path / "worker.pid"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(pid_file), initializer])
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and driver.poll() is None, "the worker never started"
        time.sleep(0.2)
    worker = int(pid_file.read_text())
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    survived = alive(worker)
    if survived:
        os.kill(worker, signal.SIGKILL)
    return survived


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_local_sweep_worker_ends_with_its_killed_driver(tmp_path):
    assert not worker_survives_its_killed_driver(tmp_path, "init_local_worker")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_without_it_the_worker_outlives_its_driver(tmp_path):
    """The control: the plain initializer (a remote engine's) leaves the worker running, so
    the test above measures the parent-death signal, not the pool's own shutdown."""
    assert worker_survives_its_killed_driver(tmp_path, "init_worker")
