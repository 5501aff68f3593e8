import pytest

from uebench import registry
from uebench.core import Method
from uebench.registry import Registry, UnknownNameError


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


def test_double_registration_is_an_error():
    local = Registry("method", "uebench.methods", "uebench.test-none")

    @local.register("x")
    class A(Method):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        @local.register("x")
        class B(Method):
            pass
