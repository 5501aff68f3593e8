import pytest

from uebench.contracts import registry
from uebench.contracts.core import Method
from uebench.contracts.registry import Registry, UnknownNameError


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
    for table in (registry.methods, registry.victims, registry.datasets, registry.defenses):
        table.names()
        assert table.problems == [], table.problems


def test_builtin_plugins_have_no_entry_point_origin():
    registry.methods.names()
    assert registry.methods.origin("em") is None
    assert registry.origins(method="em", victim="unet", dataset="spheres", defense="none") == {}


def test_builtin_modules_are_listed_one_per_line():
    """So adding a module is a one-line change that stays inside the line length."""
    import importlib
    import inspect

    for package in ("uebench.methods", "uebench.victims", "uebench.datasets"):
        module = importlib.import_module(package)
        lines = inspect.getsource(module).splitlines()
        for name in module.BUILTIN_MODULES:
            assert f'    "{name}",' in lines, f"{package}: {name!r} is not on a line of its own"
