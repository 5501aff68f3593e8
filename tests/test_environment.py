"""Provenance in every record: the git commit and whether the work tree was dirty, package
versions and the device. (Where an entry-point plugin comes from is tested end to end, through
an installed plugin package, in tests/test_plugin_package.py.)"""

import subprocess

import numpy
import torch

from uebench.runner import environment as environment_module
from uebench.runner.environment import environment, git_dirty


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_git_dirty_tells_committed_from_changed_trees(tmp_path):
    assert git_dirty(tmp_path) is None  # not a git work tree
    _git(tmp_path, "init", "-q")
    (tmp_path / "method.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("runs/\n")
    _git(tmp_path, "add", "method.py", ".gitignore")
    _git(tmp_path, "commit", "-q", "-m", "one")
    assert git_dirty(tmp_path) is False
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "record.json").write_text("{}")
    assert git_dirty(tmp_path) is False  # ignored files do not count
    (tmp_path / "new_method.py").write_text("y = 2\n")
    assert git_dirty(tmp_path) is True  # an untracked plugin module does
    (tmp_path / "new_method.py").unlink()
    (tmp_path / "method.py").write_text("x = 2\n")
    assert git_dirty(tmp_path) is True


def test_the_checkout_state_is_its_commit_and_whether_it_is_dirty(tmp_path, monkeypatch):
    monkeypatch.setattr(environment_module, "CHECKOUT", tmp_path)
    assert environment_module.checkout_state() == (None, None)  # not a git work tree
    _git(tmp_path, "init", "-q")
    (tmp_path / "method.py").write_text("x = 1\n")
    _git(tmp_path, "add", "method.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert environment_module.checkout_state() == (head, False)
    (tmp_path / "method.py").write_text("x = 2\n")
    assert environment_module.checkout_state() == (head, True)


def test_a_record_names_the_checkout_the_process_loaded_not_a_later_one(tmp_path, monkeypatch):
    loaded = environment_module.LOADED_CHECKOUT
    assert loaded[0] is None or len(loaded[0]) == 40
    monkeypatch.setattr(environment_module, "CHECKOUT", tmp_path)  # the checkout moved since
    env = environment(torch.device("cpu"))
    assert environment_module.checkout_state() == (None, None)
    assert (env["git_commit"], env["git_dirty"]) == loaded


def test_a_record_names_the_versions_and_the_device_it_ran_with():
    env = environment(torch.device("cpu"))
    assert env["packages"]["torch"] == torch.__version__
    assert env["packages"]["numpy"] == numpy.__version__
    assert env["device"].startswith(f"cpu ({torch.get_num_threads()} threads")


def test_cpu_id_tells_apart_cpus_that_share_a_model_name(tmp_path):
    def cpuinfo(name, family, flags):
        path = tmp_path / name
        path.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: {family}\n"
                        f"model\t\t: 1\nstepping\t: 1\nflags\t\t: {flags}\n\n"
                        "processor\t: 1\ncpu family\t: 99\n")
        return path

    milan = environment_module.cpu_id(cpuinfo("a", 25, "fpu avx2 sse"))
    assert milan.startswith("family 25 model 1 stepping 1 flags ")
    assert milan == environment_module.cpu_id(cpuinfo("b", 25, "sse avx2 fpu"))  # flag order
    assert milan != environment_module.cpu_id(cpuinfo("c", 25, "fpu avx2 sse avx512f"))
    assert milan != environment_module.cpu_id(cpuinfo("d", 23, "fpu avx2 sse"))
    assert environment_module.cpu_id(tmp_path / "missing") is None
    (tmp_path / "arm").write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")
    assert environment_module.cpu_id(tmp_path / "arm") is None
