import weakref

import numpy as np
import pytest

from uebench.contracts import registry
from uebench.runner.data import fingerprint, load_cases, resolve_dataset, split_cases
from uebench.runner.store import StageCache


@pytest.mark.parametrize("name,channels,classes", [
    ("brats-mni", 4, 3), ("abdomen-phantom", 1, 4), ("spheres", 1, 3)])
def test_synthetic_datasets_are_valid_and_deterministic(name, channels, classes, tiny):
    dataset = registry.datasets.get(name)()
    first = dataset.build(tiny, 0)[:2]
    again = dataset.build(tiny, 0)[:2]
    for case, twin in zip(first, again):
        assert case.image.shape == (channels, 32, 32, 32) and case.image.dtype == np.float32
        assert case.label.shape == (32, 32, 32) and case.label.dtype == np.uint8
        assert 0 <= case.image.min() and case.image.max() <= 1
        assert set(np.unique(case.label)) <= set(range(classes + 1))
        assert case.foreground.any()
        np.testing.assert_array_equal(case.image, twin.image)
    assert dataset.n_classes == classes + 1


def test_brats_regions_and_all_labels_present(tiny):
    dataset = registry.datasets.get("brats-mni")()
    assert dataset.regions == {"ET": (3,), "TC": (1, 3), "WT": (1, 2, 3)}
    case = dataset.build(tiny, 0)[0]
    assert set(np.unique(case.label)) == {0, 1, 2, 3}


def test_split_is_seeded_and_disjoint(tiny):
    cases = registry.datasets.get("spheres")().build(tiny, 0)
    split = split_cases(cases)
    ids = [c.id for part in (split.train, split.val, split.test) for c in part]
    assert sorted(ids) == sorted(c.id for c in cases)
    assert len(split.val) >= 1 and len(split.test) >= 1
    assert [c.id for c in split_cases(cases).train] == [c.id for c in split.train]
    with pytest.raises(ValueError, match="at least 3"):
        split_cases(cases[:2])


def test_cases_are_cached_by_fingerprint(tiny, isolated_cache):
    dataset = resolve_dataset("spheres")
    cache = StageCache(isolated_cache)
    first = load_cases(dataset, tiny, cache)
    assert cache.path("datasets", fingerprint(dataset, tiny), "npz").exists()
    second = load_cases(dataset, tiny, cache)
    np.testing.assert_array_equal(first[0].image, second[0].image)


def test_cached_cases_are_read_when_used_and_held_only_while_used(tiny, isolated_cache):
    """A loaded case holds no voxels of its own: each read comes from the cache file, the same
    array while a caller holds it, released when none does (so a loop over the test cases
    holds one case at a time); the values are the dataset's."""
    dataset = resolve_dataset("spheres")
    built = dataset.build(tiny, 0)
    cases = load_cases(dataset, tiny, StageCache(isolated_cache))
    assert [c.id for c in cases] == [c.id for c in built]
    for case, twin in zip(cases, built):
        image = case.image
        assert case.image is image  # held: no second read
        np.testing.assert_array_equal(image, twin.image)
        np.testing.assert_array_equal(case.label, twin.label)
        assert case.spacing == twin.spacing
    released = weakref.ref(cases[1].image)
    assert released() is None  # nobody holds it: freed, read again on the next use
    np.testing.assert_array_equal(cases[1].image, built[1].image)


def test_parametrised_dataset_needs_its_argument():
    with pytest.raises(ValueError, match="decathlon:ARGUMENT"):
        resolve_dataset("decathlon")


@pytest.mark.parametrize("name", ["brats-mni", "abdomen-phantom", "decathlon"])
def test_tqdm_disable_set_after_import_silences_dataset_bars(name, tiny, tmp_path, monkeypatch,
                                                              capfd):
    # `uebench run --quiet` sets TQDM_DISABLE after tqdm was imported (torch imports it), when
    # tqdm no longer reads it: the dataset bars read it when they are made.
    import tqdm  # noqa: F401

    from tests.decathlon_folders import msd_folder

    source = f"decathlon:{msd_folder(tmp_path / 'msd', n=2)}" if name == "decathlon" else name
    monkeypatch.setenv("TQDM_DISABLE", "1")
    resolve_dataset(source).build(tiny, 0)
    captured = capfd.readouterr()
    assert "%|" not in captured.err + captured.out
    monkeypatch.setenv("TQDM_DISABLE", "")
    resolve_dataset(source).build(tiny, 0)
    assert "%|" in capfd.readouterr().err  # the bar is back without the variable


def test_preset_split_uses_the_preset_counts_and_falls_back_for_small_folders(tiny):
    from dataclasses import replace

    from uebench.contracts.core import Case, Preset
    from uebench.contracts.presets import get_preset
    from uebench.runner.data import preset_split

    quick = get_preset("quick")
    assert quick.split == (14, 3, 16) and quick.n_cases == 33
    cases = [Case(f"c{i}", np.zeros((1, 2, 2, 2), np.float32), np.zeros((2, 2, 2), np.uint8))
             for i in range(33)]
    split = preset_split(cases, quick)
    assert (len(split.train), len(split.val), len(split.test)) == (14, 3, 16)
    assert not {c.id for c in split.train} & {c.id for c in split.test}
    small = preset_split(cases[:10], quick)  # a local folder with fewer cases: 70/15/15
    assert (len(small.train), len(small.val), len(small.test)) == (6, 2, 2)
    assert preset_split(cases[:10], replace(tiny, n_cases=10, split=None)).train == small.train
    with pytest.raises(ValueError, match="does not add up"):
        Preset(name="bad", volume_size=32, n_cases=10, epochs=1, batch_size=1, split=(5, 2, 2))
