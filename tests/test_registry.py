import importlib
import pkgutil
from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

from uebench.cli import main
from uebench.contracts import registry
from uebench.contracts.core import Method, Preset
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import PresetRegistry, Registry, UnknownNameError


def test_builtins_are_registered():
    assert {"clean", "random", "random-roi", "voxshield", "voxshield-pgd"} <= set(
        registry.methods.names())
    assert {"swinunetr", "unetr", "unet", "segresnet", "dynunet", "attentionunet",
            "basicunetplusplus", "vnet", "unet2d"} <= set(registry.victims.names())
    assert {"brats-mni", "abdomen-phantom", "spheres", "decathlon"} <= set(
        registry.datasets.names())
    assert "none" in registry.defenses.names()


def test_unknown_name_names_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean: voxshield"):
        registry.methods.get("voxshild")
    with pytest.raises(UnknownNameError, match="Known: "):
        registry.victims.get("resnet-zzz")


def test_double_registration_keeps_the_first_and_reports_one_line():
    local = Registry("method", "uebench.methods", "uebench.test-none")

    class A(Method):
        pass

    class B(Method):
        pass

    A.__qualname__, B.__qualname__ = "A", "B"
    local.register("x")(A)
    with pytest.warns(registry.PluginConflictWarning) as caught:
        local.register("x")(B)

    message = (f"method 'x' is registered twice: by {__name__}.A (kept) and by {__name__}.B "
               "(ignored)")
    assert [str(w.message) for w in caught] == [message]
    assert local.problems == [message]
    assert local.get("x") is A  # the first registration wins
    assert local.names() == ["x"]

    @local.register("y")  # the registry keeps working after a duplicate
    class C(Method):
        pass

    assert local.get("y") is C


def test_builtin_plugins_have_no_duplicates_or_load_failures():
    for table in (registry.methods, registry.victims, registry.datasets, registry.defenses,
                  registry.presets):
        table.names()
        assert table.problems == [], table.problems


def test_builtin_plugins_have_no_entry_point_origin():
    registry.methods.names()
    assert registry.methods.origin("em") is None
    assert registry.origins(method="em", victim="unet", dataset="spheres", defense="none") == {}


def test_builtin_modules_are_exactly_the_modules_that_register_plugins():
    """A module of a plugin folder that registers plugins but is missing from
    ``BUILTIN_MODULES`` would be silently skipped; a listed one that registers nothing is a
    stale entry."""
    for table in (registry.methods, registry.victims, registry.datasets, registry.defenses):
        package = importlib.import_module(table._builtin_package)
        if not hasattr(package, "__path__"):  # a single module, not a plugin folder
            continue
        before = set(table.names())
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        assert set(table.names()) == before, f"{package.__name__}: unlisted plugin modules"
        defining = {table.get(name).__module__.rpartition(".")[2] for name in before}
        assert defining == set(package.BUILTIN_MODULES), package.__name__


# The built-in presets' values are part of every cache key and record.
BUILTIN_PRESETS = {
    "quick": {"name": "quick", "volume_size": 64, "n_cases": 33, "epochs": 10, "batch_size": 1,
              "lr": 2e-3, "weight_decay": 0.0, "victim_scale": "small", "split": (14, 3, 16),
              "surrogate_updates": 1000, "test_dsc_every": 2},
    "canary": {"name": "canary", "volume_size": 32, "n_cases": 24, "epochs": 40,
               "batch_size": 2, "lr": 6e-3, "weight_decay": 0.0, "victim_scale": "small",
               "split": (10, 2, 12), "surrogate_updates": 1000},
    "paper": {"name": "paper", "volume_size": 160, "n_cases": 100, "epochs": 100,
              "batch_size": 8, "lr": 5e-4, "weight_decay": 0.0, "victim_scale": "reference",
              "split": None, "surrogate_updates": 1000, "recipe": "authors"},
}


def test_builtin_presets_keep_their_values():
    for name, values in BUILTIN_PRESETS.items():
        assert registry.presets.get(name).to_dict() == values
        assert registry.presets.summaries[name]


def test_unknown_preset_names_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown preset 'quik'\. Did you mean: quick\?"):
        get_preset("quik")


def local_presets() -> PresetRegistry:
    return PresetRegistry("preset", "uebench.contracts.presets", "uebench.test-none")


def test_a_preset_registered_twice_keeps_the_first_unless_equal():
    local = local_presets()
    first = local.register_preset(Preset("big", volume_size=96, n_cases=10, epochs=5,
                                         batch_size=2), summary="bigger")
    local.register_preset(Preset("big", volume_size=96, n_cases=10, epochs=5, batch_size=2))
    assert local.problems == []  # an equal preset again (a rerun script) changes nothing
    with pytest.warns(registry.PluginConflictWarning, match="preset 'big' is registered twice"):
        local.register_preset(Preset("big", volume_size=128, n_cases=10, epochs=5,
                                     batch_size=2))
    assert local.get("big") is first and local.summaries["big"] == "bigger"
    assert local.names() == ["big"]


def test_snapshot_and_restore_carry_presets_registered_at_run_time():
    driver, worker = local_presets(), local_presets()
    driver.register_preset(EXTRA)
    worker.restore(driver.snapshot())
    assert worker.get("extra") == EXTRA and set(worker.names()) == set(driver.names())
    worker.restore({})
    assert "extra" not in worker.names()


EXTRA = Preset("extra", volume_size=48, n_cases=8, epochs=3, batch_size=2)


def test_an_entry_point_may_name_a_preset(monkeypatch):
    point = EntryPoint("extra", f"{__name__}:EXTRA", "uebench.presets")
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [point] if group == "uebench.presets" else [])
    presets = PresetRegistry("preset", "uebench.contracts.presets", "uebench.presets")
    assert presets.get("extra") is EXTRA and presets.problems == []


def test_list_presets_shows_sizes_schedules_and_what_for():
    result = CliRunner().invoke(main, ["list", "presets"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "presets:"
    assert lines[1].split() == ["preset", "volume", "cases", "(train/val/test)", "epochs",
                                "batch", "lr", "surrogate", "cap", "recipe", "for"]
    quick = next(line.split() for line in lines if line.split()[:1] == ["quick"])
    assert quick[:9] == ["quick", "64^3", "33", "(14/3/16)", "10", "1", "0.002", "1000",
                         "uebench"]
    paper = next(line.split() for line in lines if line.split()[:1] == ["paper"])
    assert paper[1:4] == ["160^3", "100", "(70%/15%/15%)"] and "GPUs" in paper
    assert paper[8] == "authors"


def test_run_with_an_unknown_preset_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["run", "--method", "clean", "--victim", "unet",
                                       "--preset", "quik", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    known = ", ".join(sorted(registry.presets.names()))  # test modules register more
    assert {"canary", "paper", "quick", "tiny"} <= set(registry.presets.names())
    assert result.output.splitlines()[-1] == (
        f"Error: unknown preset 'quik'. Did you mean: quick? Known: {known}.")
    assert not (tmp_path / "out").exists()
