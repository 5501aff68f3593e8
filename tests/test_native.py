"""The native grid: presets that keep cases at their own grid, brats-mni's MNI grid, folders
read as stored or resampled, patch training, sliding-window protection by VoxShield's G, and
the clear refusals (methods and datasets that cannot work there)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from decathlon_folders import AFFINE, SHAPE, msd_folder

from uebench.cli import main
from uebench.contracts import registry
from uebench.contracts.core import Case, Preset, RunContext
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import register_preset
from uebench.kit.patches import NativePatches, PatchSampler
from uebench.runner.data import fingerprint, resolve_dataset
from uebench.runner.pipeline import Pipeline, RunSpec
from uebench.runner.training import (
    _patch_batches,
    patch_cases,
    patch_sampler,
    train_segmenter,
)

NATIVE_TINY = register_preset(Preset(
    name="native-tiny", volume_size=16, n_cases=5, epochs=1, batch_size=2, lr=2e-3,
    split=(3, 1, 1), surrogate_updates=2, grid="native", patches_per_case=2))


def test_a_preset_checks_its_grid_fields():
    with pytest.raises(ValueError, match="grid must be one of cube, native"):
        Preset(name="bad", volume_size=32, n_cases=4, epochs=1, batch_size=1, grid="voxel")
    with pytest.raises(ValueError, match="apply to the native grid only"):
        Preset(name="bad", volume_size=32, n_cases=4, epochs=1, batch_size=1,
               target_spacing=1.0)
    with pytest.raises(ValueError, match="target_spacing must be > 0"):
        Preset(name="bad", volume_size=32, n_cases=4, epochs=1, batch_size=1, grid="native",
               target_spacing=0.0)


def test_cube_presets_write_no_grid_fields_and_keep_their_fingerprints():
    quick = get_preset("quick")
    assert not quick.native and "grid" not in quick.to_dict()
    native = get_preset("native")
    assert native.to_dict()["grid"] == "native" and native.to_dict()["patches_per_case"] == 2
    dataset = resolve_dataset("brats-mni")
    assert fingerprint(dataset, quick) == fingerprint(dataset, replace(quick))
    cube = replace(native, grid="cube", patches_per_case=1, iterations_per_epoch=None)
    assert fingerprint(dataset, native) != fingerprint(dataset, cube)
    one_mm = get_preset("native-1mm")
    assert fingerprint(dataset, native) != fingerprint(dataset, one_mm)


def test_brats_mni_native_is_the_mni_grid_with_a_tumour_of_the_cube_s_physical_size():
    dataset = resolve_dataset("brats-mni")
    native = dataset.build(replace(NATIVE_TINY, n_cases=2, split=None), 0)
    cube = dataset.build(replace(get_preset("quick"), n_cases=2, split=None), 0)
    for case, cubic in zip(native, cube):
        assert case.image.shape == (4, 95, 117, 99) and case.label.shape == (95, 117, 99)
        assert case.spacing == (2.0, 2.0, 2.0) and case.image.dtype == np.float32
        assert 0.0 <= case.image.min() and case.image.max() <= 1.0
        assert set(np.unique(case.label)) == {0, 1, 2, 3}
        tumour_ml = (case.label > 0).sum() * 8e-3
        cube_ml = (cubic.label > 0).sum() * np.prod(cubic.spacing) * 1e-3
        assert 0.5 < tumour_ml / cube_ml < 2.0  # the same physical scale, another grid
    with pytest.raises(ValueError, match="MNI152 grid at 1 or 2 mm"):
        dataset.build(replace(NATIVE_TINY, target_spacing=1.5), 0)


def test_a_folder_is_read_on_its_own_grid_or_resampled(tmp_path):
    folder = msd_folder(tmp_path / "toy", n=2)
    dataset = resolve_dataset(f"decathlon:{folder}")
    stored = dataset.build(NATIVE_TINY, 0)
    x, y, z = SHAPE
    assert stored[0].image.shape == (2, z, y, x) and stored[0].label.shape == (z, y, x)
    assert stored[0].spacing == tuple(float(s) for s in np.diag(AFFINE)[:3][::-1])
    assert set(np.unique(stored[0].label)) <= {0, 1, 2}
    resampled = dataset.build(replace(NATIVE_TINY, target_spacing=1.5), 0)
    assert resampled[0].spacing == (1.5, 1.5, 1.5)
    expected = (z * 3.0 / 1.5, y * 1.25 / 1.5, x * 1.5 / 1.5)  # the extent at 1.5 mm
    assert all(abs(n - e) <= 1 for n, e in zip(resampled[0].label.shape, expected))
    assert resampled[0].image.shape[1:] == resampled[0].label.shape


def test_patches_lie_inside_the_case_and_half_centre_on_foreground():
    label = torch.zeros(40, 30, 20, dtype=torch.long)
    label[5:9, 5:9, 5:9] = 1
    sampler = PatchSampler([label], 12, seed=0)
    hits = 0
    for _ in range(200):
        window = sampler.window(0)
        assert all(0 <= w.start and w.stop <= n and w.stop - w.start == 12
                   for w, n in zip(window, label.shape))
        hits += bool(label[window].any())
    assert 60 < hits < 190  # about half the patches are centred on the small foreground


def test_tiles_cover_every_voxel_of_every_case():
    images = [torch.rand(1, 20, 18, 40), torch.rand(1, 16, 33, 16)]
    labels = [torch.ones(1, *x.shape[1:], dtype=torch.long) for x in images]
    data = NativePatches(images, labels, None, 16, seed=0)
    covered = [torch.zeros(x.shape[1:]) for x in data.images]
    for case, window in data.tiles():
        assert all(w.stop - w.start == 16 for w in window)
        covered[case][window] += 1
    assert all(bool((c > 0).all()) for c in covered)
    assert sum(len(b.cases) for b in data.ordered(3)) == len(data.tiles())


def test_a_method_s_store_is_read_and_written_at_the_batch_windows():
    images = [torch.rand(1, 20, 18, 10), torch.rand(1, 24, 24, 24)]
    labels = [torch.zeros(1, 20, 18, 10, dtype=torch.long),
              torch.zeros(1, 24, 24, 24, dtype=torch.long)]
    for label in labels:
        label[:, 2:8, 2:8, 2:8] = 1
    data = NativePatches(images, labels, [y.float() for y in labels], 16, seed=0)
    assert data.images[0].shape == (1, 20, 18, 16)  # padded to the patch edge
    store = data.zeros()
    batch = data.batch(torch.tensor([0, 1]))
    assert batch.x.shape == (2, 1, 16, 16, 16)
    torch.testing.assert_close(batch.x[1], images[1][(..., *batch.windows[1])])
    data.write(store, batch, torch.full((2, 1, 16, 16, 16), 0.5))
    assert float(store[1].sum()) == 0.5 * 16**3
    torch.testing.assert_close(data.read(store, batch), torch.full((2, 1, 16, 16, 16), 0.5))


def test_victims_train_on_patches_of_cases_of_any_shape():
    rng = np.random.default_rng(0)
    images = [rng.random((1, 20, 24, 18), dtype=np.float32),
              rng.random((1, 14, 30, 22), dtype=np.float32)]
    labels = [(image[0] > 0.7).astype(np.uint8) for image in images]
    prepared = patch_cases(images, labels, NATIVE_TINY)
    assert prepared[1]["image"].shape == (1, 16, 30, 22)  # padded to the patch edge
    patches = patch_sampler(NATIVE_TINY, 0)(prepared[1])
    assert len(patches) == 2 and patches[0]["image"].shape == (1, 16, 16, 16)
    model = registry.victims.get("unet")().build(1, 2, NATIVE_TINY)
    out = train_segmenter(model, images, labels, NATIVE_TINY, 0, torch.device("cpu"),
                          progress=False)
    assert len(out["losses"]) == 1 and np.isfinite(out["losses"][0])
    assert out["voxels_per_second"] > 0


def test_an_epoch_is_a_fixed_number_of_batches_whatever_the_folder_s_size():
    rng = np.random.default_rng(1)
    images = [rng.random((1, 20, 20, 20), dtype=np.float32) for _ in range(2)]
    labels = [(image[0] > 0.7).astype(np.uint8) for image in images]
    prepared = patch_cases(images, labels, NATIVE_TINY)
    one_round = list(_patch_batches(prepared, NATIVE_TINY, np.random.default_rng(0),
                                    patch_sampler(NATIVE_TINY, 0)))
    assert len(one_round) == 2  # 2 cases x 2 patches at batch 2
    for count in (1, 2, 5):
        fixed = replace(NATIVE_TINY, iterations_per_epoch=count)
        batches = list(_patch_batches(prepared, fixed, np.random.default_rng(0),
                                      patch_sampler(fixed, 0)))
        assert len(batches) == count
        assert all(len(images) == 2 for images, _ in batches)
    same = replace(NATIVE_TINY, iterations_per_epoch=2)  # one round: the epoch as it was
    again = list(_patch_batches(prepared, same, np.random.default_rng(0),
                                patch_sampler(same, 0)))
    for (x, y), (x2, y2) in zip(one_round, again):
        assert all(torch.equal(a, b) for a, b in zip(x, x2)) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="native grid only"):
        replace(get_preset("quick"), iterations_per_epoch=4)


def two_cases(seed: int) -> list[Case]:
    """Two one-channel cases of different, non-cubic shapes, each with a foreground cube."""
    rng = np.random.default_rng(seed)
    cases = []
    for i, shape in enumerate(((20, 26, 18), (18, 18, 30))):
        label = np.zeros(shape, np.uint8)
        label[4:12, 4:12, 4:12] = 1
        cases.append(Case(f"c{i}", rng.random((1, *shape), dtype=np.float32), label))
    return cases


def test_voxshield_protects_a_whole_case_by_sliding_its_generator():
    preset = NATIVE_TINY
    method = registry.methods.get("voxshield")(8 / 255, preset, s_steps=1,
                                               surrogate_channels="4-8",
                                               generator_channels="4-8", amp=False)
    cases = two_cases(seed=1)
    ctx = RunContext(preset, 0, torch.device("cpu"), 1, 2, progress=False)
    method.fit(cases, ctx)
    assert method.describe()["surrogate"]["updates"] == 2
    assert "sliding-window" in method.describe()["deviations"]
    for case in cases:
        delta = method.perturb(case, ctx)
        assert delta.shape == case.image.shape
        assert np.abs(delta).max() <= 8 / 255 + 1e-7 and np.abs(delta).max() > 0
        assert not delta[0][case.label == 0].any()  # the hard ROI


def test_em_sweeps_every_voxel_of_each_case_at_its_own_grid():
    preset = NATIVE_TINY
    method = registry.methods.get("em")(8 / 255, preset, surrogate_batches=1, steps=1,
                                        surrogate_channels="4-8")
    cases = two_cases(seed=2)
    ctx = RunContext(preset, 0, torch.device("cpu"), 1, 2, progress=False)
    method.fit(cases, ctx)
    assert method.describe()["surrogate"]["updates"] == 2  # the cap: 2 rounds of 1 batch
    for case in cases:
        delta = method.perturb(case, ctx)
        assert delta.shape == case.image.shape
        assert np.abs(delta).max() <= 8 / 255 + 1e-7
        # signed steps of eps/8 over the whole case, not one patch: every octant is swept
        d, h, w = (n // 2 for n in case.label.shape)
        for octant in itertools.product((slice(0, d), slice(d, None)),
                                        (slice(0, h), slice(h, None)),
                                        (slice(0, w), slice(w, None))):
            assert np.count_nonzero(delta[(0, *octant)]) / delta[(0, *octant)].size > 0.5


def test_cube_voxshield_does_not_mention_the_native_grid():
    method = registry.methods.get("voxshield")(4 / 255, get_preset("quick"))
    assert "Native grid" not in method.describe()["deviations"]


@pytest.mark.slow
def test_a_native_run_records_its_grid_and_evaluates_whole_volumes(tmp_path):
    record, _ = Pipeline(tmp_path / "run", device="cpu", progress=False).run(
        RunSpec(method="random-roi", victim="unet", preset="native-tiny", epsilon=8 / 255))
    assert record["preset"]["grid"] == "native"
    assert record["dataset"]["grid"] == "native"
    assert record["dataset"]["shape_max"] == [95, 117, 99]
    assert record["dataset"]["spacings"] == [[2.0, 2.0, 2.0]]
    clean = record["efficacy"]["clean_trained"]
    assert clean["n_cases"] == 1 and clean["dsc_fg_mean"] is not None
    assert record["fidelity"]["linf"] <= 8 / 255 + 1e-6


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "tap"], "method 'tap' cannot protect cases at their own grid"),
    (["--method", "slicewise"], "method 'slicewise' cannot protect cases at their own grid"),
    (["--method", "clean", "--dataset", "spheres"], "dataset 'spheres' has no native grid"),
])
def test_what_cannot_work_at_the_native_grid_is_refused(tmp_path, args, message):
    result = CliRunner().invoke(main, ["run", *args, "--victim", "unet", "--preset",
                                       "native-tiny", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.output


def _protect(data, out, preset: str, method: str = "random-roi", *extra: str):
    return CliRunner().invoke(main, ["protect", "--data", str(data), "--out", str(out),
                                     "--preset", preset, "--method", method, "--eps", "8/255",
                                     "--quiet", *extra])


def test_protect_at_a_native_preset_writes_the_delta_made_on_the_file_s_grid(tmp_path):
    """No resampling between the delta and the file: what the reader reads back from the
    written files is the released delta the method made on the same grid, up to the int16
    storage and the reader's own re-normalisation (compared where the clean voxel is inside
    the reader's clip: at the clip a raw change does not show); at a cube preset it is not
    (resized there and back)."""
    data = msd_folder(tmp_path / "data", n=3)
    dataset = resolve_dataset(f"decathlon:{data}")
    method = registry.methods.get("random-roi")(8 / 255, NATIVE_TINY)
    ctx = RunContext(NATIVE_TINY, 0, torch.device("cpu"), 2, 3, progress=False)
    agreement = {}
    for preset in ("native-tiny", "tiny"):
        out = tmp_path / f"out-{preset}"
        result = _protect(data, out, preset)
        assert result.exit_code == 0, result.output
        written = resolve_dataset(f"decathlon:{out}")
        for entry, protected_entry in zip(dataset.entries[:1], written.entries[:1]):
            clean = dataset.load_native(entry)
            delta = np.clip(clean.image + method.perturb(clean, ctx), 0, 1) - clean.image
            read_back = written.load_native(protected_entry).image - clean.image
            inside = (clean.image > 0) & (clean.image < 1)
            agreement[preset] = float(np.corrcoef(delta[inside], read_back[inside])[0, 1])
            assert np.abs(read_back).max() <= 8 / 255 + 1e-3
    assert agreement["native-tiny"] > 0.99 > agreement["tiny"], agreement


@pytest.mark.parametrize(("preset", "method", "message"), [
    ("native-1mm", "random-roi", "protect makes each delta at the file's own grid"),
    ("native-tiny", "voxshield-pgd", "method 'voxshield-pgd' cannot protect cases at their"),
])
def test_protect_refuses_what_would_not_be_made_at_the_file_s_grid(tmp_path, preset, method,
                                                                    message):
    data = msd_folder(tmp_path / "data", n=3)
    result = _protect(data, tmp_path / "out", preset, method)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()
