"""A method package outside the repository, installed with pip, shows up through its entry
point in `uebench list methods` and runs end to end."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from uebench import registry
from uebench.cli import main

PACKAGE = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(PACKAGE)], check=True)
    return target


def test_installed_plugin_is_listed(installed):
    env = {"PYTHONPATH": str(installed), "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-m", "uebench.cli", "list", "methods"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert "tiny-sign" in out and "Third-party example" in out


def test_installed_plugin_runs(installed, tmp_path, monkeypatch):
    registry.methods.names()  # built-ins register into the real registry first
    monkeypatch.syspath_prepend(str(installed))
    fresh = registry.Registry("method", "uebench.methods", "uebench.methods")
    monkeypatch.setattr(registry, "methods", fresh)
    monkeypatch.setattr(registry, "register_method", fresh.register)
    monkeypatch.delitem(sys.modules, "uebench_tiny_plugin", raising=False)
    result = CliRunner().invoke(main, ["run", "--method", "tiny-sign", "--victim", "unet",
                                       "--dataset", "spheres", "--preset", "tiny",
                                       "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "tiny-sign vs unet" in result.output
    assert list(tmp_path.glob("records/tiny-sign-unet-*.json"))
