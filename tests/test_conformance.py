"""Every registered method, victim, defense and dataset passes its conformance kit (a new
plugin is tested the moment it is registered), and each kit catches what it is there for."""

import numpy as np
import pytest
import torch
from torch import nn

from tests.decathlon_folders import msd_folder
from tests.layout_folders import brats_tree, flare_tree
from uebench.contracts import registry
from uebench.contracts.conformance import (
    check_dataset,
    check_defense,
    check_method,
    check_victim,
)
from uebench.contracts.core import Case, Dataset, Defense, Method, Victim
from uebench.runner.data import resolve_dataset


@pytest.mark.parametrize("name", registry.methods.names())
def test_builtin_method_conforms(name):
    check_method(name)


def test_conformance_catches_a_budget_breaker(monkeypatch):
    class Loud(Method):
        def perturb(self, case, ctx):
            return np.full_like(case.image, 3 * self.epsilon)

    monkeypatch.setitem(registry.methods._entries, "loud", Loud)
    Loud.name = "loud"
    with pytest.raises(Exception, match="exceeds the budget"):
        check_method("loud")


def test_conformance_catches_nondeterminism(monkeypatch):
    class Jitter(Method):
        def perturb(self, case, ctx):
            return np.random.default_rng().uniform(-self.epsilon, self.epsilon, case.image.shape)

    monkeypatch.setitem(registry.methods._entries, "jitter", Jitter)
    Jitter.name = "jitter"
    with pytest.raises(AssertionError, match="same seed"):
        check_method("jitter")


def test_check_method_says_what_passed(capsys):
    line = check_method("random")
    printed = capsys.readouterr().out
    assert printed == line + "\n" and "\n" not in line
    assert line.startswith("check_method('random'): passed on 3 spheres cases")
    for rule in ("JSON params", "delta shape", "finite", "budget (L-inf 4/255) on the stored",
                 "[0, 1]", "same seed"):
        assert rule in line
    check_method("random", quiet=True)
    assert capsys.readouterr().out == ""


def test_the_method_template_in_the_docs_conforms(monkeypatch):
    import importlib.util
    from pathlib import Path

    registry.methods.names()  # load the built-ins before swapping in a scratch table
    monkeypatch.setattr(registry.methods, "_entries", dict(registry.methods._entries))
    path = Path(__file__).parents[1] / "docs" / "method_template.py"
    spec = importlib.util.spec_from_file_location("method_template", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    check_method("template-noise")
    check_method("template-noise", params={"scale": 0.5})


@pytest.fixture
def scratch():
    """Plugins a test registers are gone after it."""
    tables = (registry.victims, registry.defenses, registry.datasets)
    saved = [table.snapshot() for table in tables]
    yield
    for table, entries in zip(tables, saved):
        table.restore(entries)


# --- victims ---------------------------------------------------------------------------------

# One training step at the declared minimum size; over 10 s on 2 CPU cores: marked slow.
SLOW_VICTIMS = {"swinunetr"}  # 64^3


def _victim_param(name):
    marks = [pytest.mark.slow] if name in SLOW_VICTIMS else []
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", [_victim_param(n) for n in registry.victims.names()])
def test_builtin_victim_conforms(name):
    check_victim(name, quiet=True)


def test_check_victim_says_what_passed(capsys):
    line = check_victim("unet2d")
    assert capsys.readouterr().out == line + "\n"
    assert line.startswith("check_victim('unet2d'): passed at 16^3 (2D, 2 channels, 4 classes")


def test_check_victim_catches_logits_of_the_wrong_shape(scratch):
    @registry.register_victim("strided")
    class Strided(Victim):
        def build(self, in_channels, n_classes, preset):
            return nn.Conv3d(in_channels, n_classes, 3, stride=2, padding=1)

    with pytest.raises(AssertionError, match=r"strided: logits of shape \(2, 4, 8, 8, 8\)"):
        check_victim("strided")


def test_check_victim_catches_weights_the_seed_does_not_fix(scratch):
    @registry.register_victim("unseeded")
    class Unseeded(Victim):
        def build(self, in_channels, n_classes, preset):
            net = nn.Conv3d(in_channels, n_classes, 1)
            nn.init.normal_(net.weight, generator=torch.Generator().manual_seed(
                int(np.random.SeedSequence().entropy % 2**31)))
            return net

    with pytest.raises(AssertionError, match="unseeded: same seed, different initial weight"):
        check_victim("unseeded")


# --- defenses --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", registry.defenses.names())
def test_builtin_defense_conforms(name):
    check_defense(name, quiet=True)


def test_check_defense_says_what_passed(capsys):
    line = check_defense("slice-shuffle")
    assert capsys.readouterr().out == line + "\n"
    assert line.startswith("check_defense('slice-shuffle'): passed (data defense, seed 0)")


def test_check_defense_catches_an_image_moved_without_its_label(scratch):
    @registry.register_defense("image-shuffle")
    class ImageShuffle(Defense):
        def apply(self, image, label, rng):
            return image[:, rng.permutation(image.shape[1])], label

    with pytest.raises(AssertionError, match="image-shuffle: the label no longer lies over"):
        check_defense("image-shuffle")


def test_check_defense_accepts_an_intensity_inversion(scratch):
    """1 - x keeps every label over the structure it labels (the class means fall instead of
    rising): a valid defense, which the kit passes."""
    @registry.register_defense("test-invert")
    class Invert(Defense):
        def apply(self, image, label, rng):
            return (1.0 - image).astype(np.float32), label

    check_defense("test-invert", quiet=True)


def test_check_defense_catches_an_unseeded_data_defense(scratch):
    @registry.register_defense("fresh-noise")
    class FreshNoise(Defense):
        def apply(self, image, label, rng):
            noise = np.random.default_rng().uniform(0, 0.01, image.shape)
            return np.clip(image + noise, 0, 1).astype(np.float32), label

    with pytest.raises(AssertionError, match="fresh-noise: same seed, different output"):
        check_defense("fresh-noise")


def test_check_defense_catches_a_defense_that_leaves_the_range(scratch):
    @registry.register_defense("brighten")
    class Brighten(Defense):
        def apply(self, image, label, rng):
            return image + np.float32(0.5), label

    with pytest.raises(AssertionError, match=r"brighten: image left \[0, 1\]"):
        check_defense("brighten")


def test_check_defense_catches_a_training_defense_on_the_global_random_state(scratch):
    @registry.register_defense("global-noise")
    class GlobalNoise(Defense):
        kind = "training"

        def batch_loss(self, model, x, y, loss_fn):
            return loss_fn(model, x + 0.01 * torch.randn(x.shape), y)

    with pytest.raises(AssertionError, match="global-noise: drew from the global torch random"):
        check_defense("global-noise")


def test_check_defense_catches_a_training_defense_that_flips_only_the_image(scratch):
    @registry.register_defense("image-flip")
    class ImageFlip(Defense):
        kind = "training"

        def batch_loss(self, model, x, y, loss_fn):
            return loss_fn(model, torch.flip(x, dims=(-1, -2, -3)), y)

    with pytest.raises(AssertionError, match=r"image-flip \(sample 0\): the label no longer"):
        check_defense("image-flip")


# --- datasets --------------------------------------------------------------------------------

# Datasets read from a folder, and a small folder of their layout to check them on.
FOLDERS = {"decathlon": lambda root: msd_folder(root, n=3),
           "brats": lambda root: brats_tree(root, n=3),
           "flare": lambda root: flare_tree(root, n=3)}


@pytest.mark.parametrize("name", registry.datasets.names())
def test_builtin_dataset_conforms(name, tmp_path):
    try:
        resolve_dataset(name)
        spec = name
    except ValueError:  # reads a folder
        assert name in FOLDERS, f"{name} reads a folder: add a small one to FOLDERS"
        spec = f"{name}:{FOLDERS[name](tmp_path / name)}"
    check_dataset(spec, quiet=True)


def test_check_dataset_says_what_passed(capsys):
    line = check_dataset("spheres")
    assert capsys.readouterr().out == line + "\n"
    assert line.startswith("check_dataset('spheres'): passed on 5 cases (32^3, seed 0)")
    assert "split 3/1/1 disjoint" in line


def _register_cubes(label_dtype=np.uint8, seeded=True):
    @registry.register_dataset("cubes")
    class Cubes(Dataset):
        class_names = ("cube",)
        modalities = ("image",)

        def build(self, preset, seed):
            rng = np.random.default_rng(seed if seeded else None)
            size = preset.volume_size
            return [Case(f"cube-{i}", rng.uniform(0, 1, (1, size, size, size)).astype(
                np.float32), np.zeros((size,) * 3, label_dtype)) for i in range(preset.n_cases)]


def test_check_dataset_catches_labels_of_the_wrong_dtype(scratch):
    _register_cubes(label_dtype=np.int64)
    with pytest.raises(AssertionError, match="cubes cube-0: label dtype int64"):
        check_dataset("cubes")


def test_check_dataset_catches_cases_the_seed_does_not_fix(scratch):
    _register_cubes(seeded=False)
    with pytest.raises(AssertionError, match="cubes: same seed, different cases"):
        check_dataset("cubes")
