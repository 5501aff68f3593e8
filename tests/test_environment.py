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


def test_a_record_names_the_commit_and_state_of_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(environment_module, "CHECKOUT", tmp_path)
    env = environment(torch.device("cpu"))
    assert (env["git_commit"], env["git_dirty"]) == (None, None)  # not a git work tree
    _git(tmp_path, "init", "-q")
    (tmp_path / "method.py").write_text("x = 1\n")
    _git(tmp_path, "add", "method.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout.strip()
    env = environment(torch.device("cpu"))
    assert (env["git_commit"], env["git_dirty"]) == (head, False)
    (tmp_path / "method.py").write_text("x = 2\n")
    assert environment(torch.device("cpu"))["git_dirty"] is True


def test_a_record_names_the_versions_and_the_device_it_ran_with():
    env = environment(torch.device("cpu"))
    assert env["packages"]["torch"] == torch.__version__
    assert env["packages"]["numpy"] == numpy.__version__
    assert env["device"].startswith(f"cpu ({torch.get_num_threads()} threads")
