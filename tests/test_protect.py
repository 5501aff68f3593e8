"""`uebench protect`: a protected copy of a NIfTI folder, same layout, budget verified on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from monai.transforms import NormalizeIntensity, Orientation, ScaleIntensityRange
from scipy.ndimage import binary_dilation

from tests.decathlon_folders import msd_folder, nnunet_folder
from tests.layout_folders import brats_tree, flare_tree
from uebench.cli import main
from uebench.contracts.folders import RAS_LABELS, IntensityMap, NiftiFolder, read_channels
from uebench.custodian.budget_fit import ERASE_FRACTION, TOLERANCE, check_budget, protect_channel
from uebench.custodian.errors import ProtectError
from uebench.custodian.manifest import MANIFEST, PARTIAL
from uebench.custodian.nifti_io import NiftiFile, to_file_grid
from uebench.datasets.decathlon import DecathlonFolder
from uebench.runner.data import resolve_dataset

EPS = 4 / 255


def protect(data: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["protect", "--data", str(data), "--out", str(out),
                                     "--preset", "tiny", "--quiet", *extra])


def files(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def effective_eps(clean: Path, protected: Path, folder: NiftiFolder) -> float:
    """max |protected_norm - clean_norm| over one image file, each normalised with the
    reader's map for its own data (independent of uebench.custodian.protect)."""
    a = read_channels([clean], clean.parent).float()
    b = read_channels([protected], protected.parent).float()
    assert a.shape == b.shape
    if clean.name.endswith("_0000.nii.gz"):  # nnU-Net per-channel file
        modalities = folder.modalities[:1]
    else:
        modalities = folder.modalities
    return max(float((folder.intensity_map(b[c], m).apply(b[c])
                      - folder.intensity_map(a[c], m).apply(a[c])).abs().max())
               for c, m in enumerate(modalities))


@pytest.fixture(scope="module")
def msd_run(tmp_path_factory):
    """One protect of a 2-channel MRI (z-score) MSD folder with random-roi."""
    base = tmp_path_factory.mktemp("msd")
    data = msd_folder(base / "data", n=3)
    with pytest.MonkeyPatch.context() as patch:  # the autouse fixtures are per test
        patch.setenv("UEBENCH_CACHE", str(base / "cache"))
        result = protect(data, base / "out", "--method", "random-roi")
    assert result.exit_code == 0, result.output
    return data, base / "out", result


def test_layout_headers_and_labels_kept(msd_run):
    data, out, _ = msd_run
    before, after = files(data), files(out)
    assert set(after) == set(before) | {MANIFEST}
    assert (out / "dataset.json").read_bytes() == (data / "dataset.json").read_bytes()
    for name in before:
        if name.startswith("labelsTr/"):
            assert after[name] == before[name], f"{name} not byte-identical"
        if name.startswith("imagesTr/"):
            a, b = nib.load(data / name), nib.load(out / name)
            assert b.header.binaryblock == a.header.binaryblock  # every header field
            assert b.get_data_dtype() == a.get_data_dtype() == np.int16
            np.testing.assert_array_equal(b.affine, a.affine)
            assert b.shape == a.shape
            assert after[name] != before[name]  # the image did change


def test_effective_eps_on_the_reread_files_within_budget_and_nonzero(msd_run):
    data, out, result = msd_run
    folder = DecathlonFolder(str(data))
    manifest = json.loads((out / MANIFEST).read_text())
    images = sorted(p for p in (data / "imagesTr").iterdir())
    for path in images:
        eps = effective_eps(path, out / "imagesTr" / path.name, folder)
        assert 0.5 * EPS < eps <= EPS * (1 + TOLERANCE), path.name
        row = manifest["files"][f"imagesTr/{path.name}"]
        assert row["effective_eps"] == pytest.approx(eps, rel=1e-6)
        assert 0 < row["effective_eps_cube"] <= row["effective_eps"] * (1 + 1e-5)
        assert f"imagesTr/{path.name}: effective eps" in result.output
        assert f"delta scaled by {row['shrink']:.2f}" in result.output


def test_the_summary_says_how_far_the_budget_fit_scaled_the_deltas(msd_run):
    _, out, result = msd_run
    manifest = json.loads((out / MANIFEST).read_text())
    shrinks = [row["shrink"] for row in manifest["files"].values() if row["role"] == "image"]
    summary = manifest["summary"]
    assert (summary["shrink_min"], summary["shrink_max"]) == (min(shrinks), max(shrinks))
    assert 0 < summary["shrink_min"] <= summary["shrink_max"] <= 1
    assert (f"scaled the deltas by {min(shrinks):.2f} to {max(shrinks):.2f}"
            in result.output)


def test_manifest_records_settings_and_sha256s_of_the_files(msd_run):
    data, out, _ = msd_run
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is True
    assert manifest["settings"] == {"method": "random-roi", "params": {}, "epsilon": EPS,
                                    "seed": 0, "preset": "tiny", "input": str(data.resolve())}
    assert manifest["method"]["name"] == "random-roi"
    assert "git_commit" in manifest and manifest["uebench_version"]
    listed = manifest["files"]
    assert set(listed) == set(files(data))
    for name, row in listed.items():
        assert row["sha256_in"] == hashlib.sha256((data / name).read_bytes()).hexdigest()
        assert row["sha256_out"] == hashlib.sha256((out / name).read_bytes()).hexdigest()


def test_ct_folder_int16_in_hounsfield_units(tmp_path):
    """nnU-Net v2, one CT channel: the delta is delta * 400 HU, whole stored units within
    the budget (floor(eps * 400) = 6 HU at 4/255)."""
    data = nnunet_folder(tmp_path / "data", n=3)
    result = protect(data, tmp_path / "out", "--method", "random")
    assert result.exit_code == 0, result.output
    folder = DecathlonFolder(str(data))
    for path in sorted((data / "imagesTr").iterdir()):
        clean = np.asanyarray(nib.load(path).dataobj).astype(np.int32)
        written = nib.load(tmp_path / "out" / "imagesTr" / path.name)
        change = np.asanyarray(written.dataobj).astype(np.int32) - clean
        assert written.get_data_dtype() == np.int16
        assert 1 <= np.abs(change).max() <= np.floor(EPS * 400)  # whole HU, within budget
        assert 0 < effective_eps(path, tmp_path / "out" / "imagesTr" / path.name,
                                 folder) <= EPS * (1 + TOLERANCE)


def test_refuses_to_write_into_its_input(tmp_path):
    data = msd_folder(tmp_path / "data", n=3)
    before = files(data)
    for out in (data, data / "protected", data / "imagesTr"):
        result = protect(data, out, "--method", "random")
        assert result.exit_code == 2
        assert "inside the input folder" in result.output
    assert files(data) == before


def test_refuses_a_non_empty_out_without_resume(tmp_path):
    data = msd_folder(tmp_path / "data", n=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = protect(data, tmp_path / "out", "--method", "random")
    assert result.exit_code == 2 and "not empty" in result.output
    result = protect(data, tmp_path / "out", "--method", "random", "--resume")
    assert result.exit_code == 2 and MANIFEST in result.output  # not a protect folder
    assert files(tmp_path / "out") == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


def test_resume_after_an_interruption_gives_the_same_outputs(tmp_path):
    data = msd_folder(tmp_path / "data", n=3)
    out = tmp_path / "out"
    assert protect(data, out, "--method", "random-roi").exit_code == 0
    complete = files(out)
    # simulate a kill while case_001 was being written: its image gone, a partial file
    # left, its manifest entry never written, the manifest not marked complete
    (out / "imagesTr" / "case_001.nii.gz").unlink()
    (out / "imagesTr" / f"{PARTIAL}case_001.nii.gz").write_bytes(b"half")
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["files"]["imagesTr/case_001.nii.gz"]
    manifest["complete"] = False
    manifest.pop("summary")
    (out / MANIFEST).write_text(json.dumps(manifest))
    result = protect(data, out, "--method", "random-roi", "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming: 2 of 3 cases already protected" in result.output
    assert "case_001.nii.gz: effective eps" in result.output
    assert "case_000.nii.gz: effective eps" not in result.output  # skipped
    resumed = files(out)
    assert {k: v for k, v in resumed.items() if k != MANIFEST} == \
        {k: v for k, v in complete.items() if k != MANIFEST}
    assert json.loads((out / MANIFEST).read_text())["complete"] is True
    # other settings do not resume into the same folder
    result = protect(data, out, "--method", "random-roi", "--resume", "--eps", "8/255")
    assert result.exit_code == 2 and "other settings" in result.output


def test_int16_storage_that_erases_a_tiny_eps_exits_2(tmp_path):
    """CT stored as int16: eps = 0.002 is 0.8 HU, under one stored unit (1 HU = 0.0025 in
    the normalised space), so nothing of the delta can be written within the budget."""
    data = nnunet_folder(tmp_path / "data", n=3)
    out = tmp_path / "out"
    result = protect(data, out, "--method", "random", "--eps", "0.002")
    assert result.exit_code == 2
    assert "imagesTr/ct_000_0000.nii.gz: the storage erases the perturbation" in result.output
    assert "int16" in result.output
    assert not (out / "imagesTr" / "ct_000_0000.nii.gz").exists()  # nothing unverified left
    assert not list(out.rglob(f"{PARTIAL}*"))


def test_a_file_over_the_budget_is_refused():
    row = {"effective_eps": EPS * 1.01, "intended_eps": EPS, "dtype": "int16",
           "storage_step": 0.001}
    with pytest.raises(ProtectError, match="x.nii.gz: the written file breaks the budget"):
        check_budget("x.nii.gz", row, EPS)
    row = {**row, "effective_eps": EPS * (ERASE_FRACTION - 0.01)}
    with pytest.raises(ProtectError, match="erases"):
        check_budget("x.nii.gz", row, EPS)
    check_budget("x.nii.gz", {**row, "effective_eps": EPS}, EPS)


OBLIQUE = np.array([[0.0, -1.5, 0.0, 10.0],  # file axes permuted and flipped against RAS
                    [0.0, 0.0, 1.25, -5.0],
                    [-3.0, 0.0, 0.0, 2.0],
                    [0.0, 0.0, 0.0, 1.0]])


def test_geometry_inverse_undoes_the_readers_reorientation():
    """to_file_grid(reader's cube axes) returns the file's own voxel order (no resize when
    the shapes agree, so exactly)."""
    rng = np.random.default_rng(0)
    array = rng.random((12, 12, 12)).astype(np.float32)
    image = read_like_the_reader(array, OBLIQUE)
    cube = image.transpose(2, 1, 0)  # as to_cube stores it: [D(z), H(y), W(x)]
    np.testing.assert_array_equal(to_file_grid(cube, OBLIQUE, array.shape), array)


def read_like_the_reader(array: np.ndarray, affine: np.ndarray) -> np.ndarray:
    from monai.data import MetaTensor

    tensor = MetaTensor(torch.as_tensor(array)[None], affine=torch.as_tensor(affine))
    return np.asarray(Orientation("RAS", labels=RAS_LABELS)(tensor))[0]


def test_delta_lands_on_the_foreground_of_an_oblique_file(tmp_path):
    """random-roi on a folder whose files are not stored in RAS order: the voxels changed on
    disk lie on (the one-voxel dilation of) each file's own label."""
    data = msd_folder(tmp_path / "data", n=3, channels=1)
    for path in sorted(data.rglob("*.nii.gz")):
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.asanyarray(image.dataobj), OBLIQUE), path)
    result = protect(data, tmp_path / "out", "--method", "random-roi")
    assert result.exit_code == 0, result.output
    for path in sorted((data / "imagesTr").iterdir()):
        label = np.asanyarray(nib.load(data / "labelsTr" / path.name).dataobj) > 0
        clean = np.asanyarray(nib.load(path).dataobj)
        written = np.asanyarray(nib.load(tmp_path / "out" / "imagesTr" / path.name).dataobj)
        changed = (written != clean).squeeze()
        assert changed.any()
        assert not (changed & ~binary_dilation(label, iterations=1)).any()
        assert changed[label].mean() > 0.5


def test_the_reader_applies_its_intensity_maps_bit_for_bit(tmp_path):
    """The maps the reader exposes are the MONAI transforms it always used, bit for bit."""
    for build, name in ((msd_folder, "msd"), (nnunet_folder, "nn")):
        folder = DecathlonFolder(str(build(tmp_path / name, n=3)))
        image = read_channels(folder.entries[0].images, folder.root).float()
        expected = []
        for c, modality in enumerate(folder.modalities):
            channel = image[c : c + 1].clone()  # NormalizeIntensity works in place
            if modality == "CT":
                expected.append(ScaleIntensityRange(-150.0, 250.0, 0.0, 1.0, clip=True)(channel))
            else:
                z = NormalizeIntensity(nonzero=True)(channel)
                expected.append(torch.where(channel != 0, (z.clamp(-5, 5) + 5) / 10, 0.0))
        assert torch.equal(torch.as_tensor(folder.normalise(image.clone(), folder.entries[0])),
                           torch.as_tensor(torch.cat(expected)))
        maps = folder.intensity_maps(image)
        assert maps[0].scale == pytest.approx(1 / 400 if name == "nn"
                                              else 1 / (10 * float(image[0][image[0] != 0]
                                                                   .std(unbiased=False))))


def test_a_z_scored_channel_is_shrunk_until_renormalised_within_budget(tmp_path):
    """A delta that widens the channel's spread changes the std the reader divides by: the
    writer re-normalises with new statistics and scales the delta down until the change in
    the normalised space stays within eps; the file read back agrees."""
    rng = np.random.default_rng(0)
    raw = (rng.normal(100.0, 10.0, (16, 16, 16))).astype(np.float32)
    path = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(raw, np.eye(4)), path)
    nifti = NiftiFile.read(path)
    eps = 32 / 255
    delta = (eps * np.sign(raw - 100.0)).astype(np.float32)  # pushes every voxel outwards
    result = protect_channel(nifti, nifti.stored, delta, IntensityMap.zscore, eps)
    assert result.shrink < 0.9
    assert 0.5 * eps < result.simulated <= eps * (1 + 1e-6)
    nifti.write(tmp_path / "y.nii.gz", result.stored)
    a = torch.from_numpy(raw)
    b = read_channels([tmp_path / "y.nii.gz"], tmp_path)[0].float()
    moved = (IntensityMap.zscore(b).apply(b) - IntensityMap.zscore(a).apply(a)).abs().max()
    assert float(moved) == pytest.approx(result.simulated, rel=1e-5)


def test_a_delta_that_narrows_the_spread_ends_within_budget_or_is_refused(tmp_path,
                                                                          monkeypatch):
    """Pulling every voxel inwards shrinks the std the reader divides by, so the fit needs
    several rounds (4 here); when the rounds run out the writer refuses the channel instead of
    returning it above eps (it used to, and only the read-back caught it)."""
    from uebench.custodian import budget_fit

    rng = np.random.default_rng(0)
    raw = (rng.normal(100.0, 10.0, (16, 16, 16))).astype(np.float32)
    path = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(raw, np.eye(4)), path)
    nifti = NiftiFile.read(path)
    eps = 32 / 255
    delta = (-eps * np.sign(raw - 100.0)).astype(np.float32)
    result = protect_channel(nifti, nifti.stored, delta, IntensityMap.zscore, eps)
    assert 0.5 * eps < result.simulated <= eps * (1 + 1e-6) and result.shrink < 0.7
    monkeypatch.setattr(budget_fit, "FIT_ROUNDS", 1)
    with pytest.raises(ProtectError, match=r"x\.nii\.gz: the delta is still .* above eps "
                                           r"32\.000/255, after 1 shrink rounds"):
        protect_channel(nifti, nifti.stored, delta, IntensityMap.zscore, eps)


def test_a_flare_folder_is_protected_in_its_own_layout(tmp_path):
    """Any registered layout whose reader maps each channel affinely is protected the same
    way: FLARE's images/ and labels/, CT in whole HU within the budget (floor(eps * 400) = 12
    HU at 8/255), labels byte-identical."""
    data = flare_tree(tmp_path / "data", n=3)
    out = tmp_path / "out"
    result = protect(data, out, "--method", "random", "--eps", "8/255")
    assert result.exit_code == 0, result.output
    before, after = files(data), files(out)
    assert set(after) == set(before) | {MANIFEST}
    assert json.loads((out / MANIFEST).read_text())["layout"] == "flare"
    folder = resolve_dataset(f"flare:{data}")
    for name in before:
        if name.startswith("labels/"):
            assert after[name] == before[name]
            continue
        clean, written = nib.load(data / name), nib.load(out / name)
        assert written.header.binaryblock == clean.header.binaryblock
        change = (np.asanyarray(written.dataobj).astype(np.int32)
                  - np.asanyarray(clean.dataobj).astype(np.int32))
        assert 1 <= np.abs(change).max() <= np.floor(8 / 255 * 400)
        assert 0 < effective_eps(data / name, out / name, folder) <= 8 / 255 * (1 + TOLERANCE)


def test_a_layout_without_per_channel_maps_is_refused_before_writing(tmp_path):
    """BraTS z-scores inside the brain of all four modalities: no per-channel affine map for
    the budget fit, so protect refuses it and writes nothing."""
    result = protect(brats_tree(tmp_path / "data", n=3), tmp_path / "out", "--method", "random")
    assert result.exit_code == 2
    assert "cannot write brats folders back" in result.output
    from uebench.custodian.protect import _protectable

    assert {"decathlon", "flare"} <= set(_protectable()) and "brats" not in _protectable()
    assert f"protectable layouts: {', '.join(_protectable())}" in result.output
    assert not (tmp_path / "out").exists()


def test_the_flare_reader_applies_its_intensity_map_bit_for_bit(tmp_path):
    folder = resolve_dataset(f"flare:{flare_tree(tmp_path / 'flare', n=1)}")
    image = read_channels(folder.entries[0].images, folder.root).float()
    assert torch.equal(torch.as_tensor(folder.normalise(image, folder.entries[0])),
                       folder.intensity_map(image[0], "CT").apply(image))
