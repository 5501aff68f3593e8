import json

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from tests.decathlon_folders import AFFINE, msd_folder, nnunet_folder
from uebench.cli import main
from uebench.contracts.folders import FolderError
from uebench.runner.data import resolve_dataset


def test_msd_folder_loads_resized_with_spacing(tmp_path, tiny):
    dataset = resolve_dataset(f"decathlon:{msd_folder(tmp_path / 'msd')}")
    assert dataset.class_names == ("lesion", "core") and dataset.modalities == ("MRI", "MRI")
    cases = dataset.build(tiny, 0)
    assert len(cases) == 4
    case = cases[0]
    assert case.image.shape == (2, 32, 32, 32) and case.label.shape == (32, 32, 32)
    assert 0 <= case.image.min() and case.image.max() <= 1
    assert set(np.unique(case.label)) == {0, 1, 2}
    # D is z: 14 slices of 3 mm over 32 voxels; W is x: 20 voxels of 1.5 mm.
    np.testing.assert_allclose(case.spacing, (14 * 3.0 / 32, 24 * 1.25 / 32, 20 * 1.5 / 32))


def test_nnunet_folder_with_ct_window(tmp_path, tiny):
    dataset = resolve_dataset(f"decathlon:{nnunet_folder(tmp_path / 'nn')}")
    cases = dataset.build(tiny, 0)
    assert [c.id for c in cases] == [f"ct_{i:03d}" for i in range(4)]
    assert cases[0].image.shape == (1, 32, 32, 32)


def _break(root, what):
    meta = json.loads((root / "dataset.json").read_text())
    target = root / "labelsTr" / "case_001.nii.gz"
    if what == "missing":
        target.unlink()
    elif what == "corrupt":
        target.write_bytes(b"not a nifti file at all")
    elif what == "shape":
        nib.save(nib.Nifti1Image(np.zeros((20, 24, 13), np.uint8), AFFINE), target)
    elif what == "nan":
        image = root / "imagesTr" / "case_001.nii.gz"
        nib.save(nib.Nifti1Image(np.full((20, 24, 14, 2), np.nan, np.float32), AFFINE), image)
        return "case_001"
    elif what == "labels":
        nib.save(nib.Nifti1Image(np.full((20, 24, 14), 7, np.uint8), AFFINE), target)
    elif what == "escape":
        meta["training"][1]["label"] = "../outside.nii.gz"
        (root.parent / "outside.nii.gz").write_bytes(target.read_bytes())
        (root / "dataset.json").write_text(json.dumps(meta))
        return "escapes"
    return "case_001"


@pytest.mark.parametrize("what,message", [
    ("missing", "missing"), ("corrupt", "cannot read"), ("shape", "differs"),
    ("nan", "NaN"), ("labels", "not declared"), ("escape", "escapes")])
def test_bad_folders_give_errors_naming_the_file(tmp_path, tiny, what, message):
    root = msd_folder(tmp_path / "bad")
    name = _break(root, what)
    with pytest.raises(FolderError, match=message) as info:
        resolve_dataset(f"decathlon:{root}").build(tiny, 0)
    assert name in str(info.value)


def test_cli_reports_bad_folder_and_writes_no_record(tmp_path):
    root = msd_folder(tmp_path / "bad")
    _break(root, "labels")
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", "--method", "clean", "--victim", "unet",
                                       "--dataset", f"decathlon:{root}", "--preset", "tiny",
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert "case_001" in result.output and "not declared" in result.output
    assert not list(out.glob("records/*.json"))


@pytest.mark.parametrize("damage,reason", [
    ("garbage", "not a gzip file"), ("truncated", "truncated"), ("empty", "empty file")])
def test_unreadable_nifti_gives_one_line_naming_the_file(tmp_path, tiny, damage, reason):
    root = msd_folder(tmp_path / "bad")
    target = root / "imagesTr" / "case_002.nii.gz"
    content = target.read_bytes()
    target.write_bytes({"garbage": b"\x00garbage" * 50, "truncated": content[: len(content) // 2],
                        "empty": b""}[damage])
    with pytest.raises(FolderError) as info:
        resolve_dataset(f"decathlon:{root}").build(tiny, 0)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("cannot read imagesTr/case_002.nii.gz") and reason in message


def test_cli_reports_unreadable_nifti_in_one_line(tmp_path):
    root = msd_folder(tmp_path / "bad")
    (root / "labelsTr" / "case_001.nii.gz").write_bytes(b"not a nifti file at all")
    result = CliRunner().invoke(main, ["run", "--method", "clean", "--victim", "unet",
                                       "--dataset", f"decathlon:{root}", "--preset", "tiny",
                                       "--out", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: cannot read labelsTr/case_001.nii.gz in {root.resolve()}: "
                     "not a gzip file"]


def test_missing_dataset_json(tmp_path):
    with pytest.raises(FolderError, match="dataset.json"):
        resolve_dataset(f"decathlon:{tmp_path}")


def test_export_then_load_round_trip(tmp_path, tiny):
    from uebench.contracts import registry
    from uebench.custodian.export import BRATS_LABEL_VALUES, export_decathlon

    source = registry.datasets.get("brats-mni")()
    cases = source.build(tiny, 0)[:3]
    root = export_decathlon(source, cases, tmp_path / "exported", BRATS_LABEL_VALUES)
    image = nib.load(root / "imagesTr" / f"{cases[0].id}.nii.gz")
    assert image.get_data_dtype() == np.int16 and image.ndim == 4
    assert len(set(image.shape[:3])) > 1  # cropped to the brain: not a cube
    label = np.asarray(nib.load(root / "labelsTr" / f"{cases[0].id}.nii.gz").dataobj)
    assert set(np.unique(label)) == {0, 1, 2, 4}
    loaded = resolve_dataset(f"decathlon:{root}")
    assert loaded.class_names == source.class_names
    assert set(np.unique(loaded.build(tiny, 0)[0].label)) == {0, 1, 2, 3}


def test_boards_name_a_local_folder_without_its_path(tmp_path):
    from uebench.contracts.presets import get_preset
    from uebench.results.records import label_dataset
    from uebench.runner.data import fingerprint

    folder = msd_folder(tmp_path / "secret-site-path")
    spec = f"decathlon:{folder}"
    dataset = resolve_dataset(spec)
    fp = fingerprint(dataset, get_preset("quick"))
    label = label_dataset(spec, dataset, fp)
    name = json.loads((folder / "dataset.json").read_text()).get("name") or folder.name
    assert label == f"decathlon:{name}#{fp[:8]}" and "secret-site-path" not in label
    assert label_dataset("brats-mni", dataset, fp) == "brats-mni"
