"""Provenance in every record: the git commit and whether the work tree was dirty."""

import subprocess

import torch

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


def test_environment_names_dirtiness_and_plugins():
    env = environment(torch.device("cpu"))
    assert env["git_dirty"] in (True, False, None)
    assert env["plugins"] == {}
    origin = {"name": "p", "module": "p", "distribution": "p-dist", "version": "1.0"}
    assert environment(torch.device("cpu"), plugins={"method": origin})["plugins"] == {
        "method": origin}
