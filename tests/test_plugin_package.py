"""A method package outside the repository, installed with pip, shows up through its entry
point in `uebench list methods` and runs end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from uebench.cli import main
from uebench.contracts import registry

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
    paths = list(tmp_path.glob("records/tiny-sign-unet-*.json"))
    assert paths
    record = json.loads(paths[0].read_text())
    # provenance: the plugin's distribution and version; the built-in victim is not listed
    assert record["environment"]["plugins"] == {"method": {
        "name": "tiny-sign", "module": "uebench_tiny_plugin",
        "distribution": "uebench-tiny-plugin", "version": "0.0.1"}}
    assert record["environment"]["git_dirty"] in (True, False)
    assert "reference_warning" in record["efficacy"]


def _fake_distribution(root: Path, name: str, version: str, entry_points: dict[str, str],
                       modules: dict[str, str]) -> Path:
    """An installed distribution without pip: a ``.dist-info`` folder beside its modules."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "[uebench.methods]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    return root


CLASH = '''
import numpy as np

from uebench.contracts.core import Method
from uebench.contracts.registry import register_method


@register_method("em")  # a built-in's name
class Clash(Method):
    """Reuses a registered name."""


@register_method("clash-only")
class ClashOnly(Method):
    """Registered after the duplicate."""

    def perturb(self, case, ctx):
        return np.zeros_like(case.image)
'''


@pytest.fixture
def clashing(tmp_path):
    return _fake_distribution(
        tmp_path / "site", "uebench-clash", "0.3.1",
        {"em": "uebench_clash", "clash-only": "uebench_clash", "broken": "uebench_broken"},
        {"uebench_clash": CLASH, "uebench_broken": "raise ImportError('needs foo>=2')\n"})


def _python(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(site), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          check=False)


def test_a_duplicate_name_is_one_line_and_exit_2(clashing):
    out = _python(clashing, "-m", "uebench.cli", "list", "methods")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "Error: method 'em' is registered twice: by uebench.methods.em.ErrorMinimising (kept) "
        "and by uebench_clash.Clash from uebench-clash 0.3.1 (ignored)",
        "method plugin broken = uebench_broken from uebench-clash 0.3.1 failed to load: "
        "ImportError: needs foo>=2",
    ]
    listed = out.stdout.splitlines()
    assert any(line.split()[:1] == ["clash-only"] for line in listed)  # the rest still loads
    assert any(line.split()[:1] == ["voxshield-pgd"] for line in listed)
    em = next(line for line in listed if line.split()[:1] == ["em"])
    assert "Reuses a registered name" not in em  # the first registration wins


def test_a_duplicate_name_leaves_other_commands_working(clashing):
    out = _python(clashing, "-c", "from uebench.contracts.conformance import check_method; "
                                  "check_method('random'); check_method('clash-only')")
    assert out.returncode == 0, out.stderr
    assert "check_method('random'): passed" in out.stdout
    assert "registered twice" in out.stderr  # reported as a warning when it happens
    assert _python(clashing, "-m", "uebench.cli", "list", "victims").returncode == 0


def test_an_entry_point_plugin_names_its_distribution(clashing, monkeypatch):
    registry.methods.names()  # built-ins register into the real registry first
    monkeypatch.syspath_prepend(str(clashing))
    fresh = registry.Registry("method", "uebench.methods", "uebench.methods")
    monkeypatch.setattr(registry, "methods", fresh)
    monkeypatch.setattr(registry, "register_method", fresh.register)
    monkeypatch.delitem(sys.modules, "uebench_clash", raising=False)
    with pytest.warns(registry.PluginConflictWarning):
        fresh.names()
    assert registry.origins(method="clash-only", victim="unet") == {"method": {
        "name": "clash-only", "module": "uebench_clash", "distribution": "uebench-clash",
        "version": "0.3.1"}}
