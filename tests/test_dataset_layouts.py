"""``brats:PATH`` and ``flare:PATH`` read from their official layouts, and
``uebench dataset check`` on clean folders and on a folder with planted problems, and a
layout registered like any dataset found by the check, the reader and protect."""

import json
import re

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from tests.decathlon_folders import msd_folder, nnunet_folder
from tests.layout_folders import (
    BRATS_AFFINE,
    BRATS_MODALITIES,
    FLARE_FOLDERS,
    SHAPE,
    brats_tree,
    flare_tree,
)
from uebench.cli import main
from uebench.contracts import registry
from uebench.contracts.folders import CaseFiles, FolderError, FolderLayout, NiftiFolder
from uebench.runner.data import resolve_dataset


@pytest.mark.parametrize("grades,ending", [(True, ".nii.gz"), (False, ".nii")])
def test_brats_tree_loads_with_regions_and_modality_order(tmp_path, tiny, grades, ending):
    root = brats_tree(tmp_path / "brats", n=3, grades=grades, ending=ending)
    dataset = resolve_dataset(f"brats:{root}")
    mni = registry.datasets.get("brats-mni")
    assert dataset.modalities == BRATS_MODALITIES == ("flair", "t1", "t1ce", "t2")
    assert dataset.class_names == mni.class_names
    assert dataset.regions == mni.regions == {"ET": (3,), "TC": (1, 3), "WT": (1, 2, 3)}
    cases = dataset.build(tiny, 0)
    assert [c.id for c in cases] == [f"BraTS19_TCIA_{i:03d}_1" for i in range(3)]
    for case in cases:
        assert case.image.shape == (4, 32, 32, 32) and case.image.dtype == np.float32
        assert case.label.shape == (32, 32, 32) and case.label.dtype == np.uint8
        assert 0 <= case.image.min() and case.image.max() <= 1
        assert set(np.unique(case.label)) == {0, 1, 2, 3}  # 4 -> 3
        assert np.all(case.image[:, 0, 0, 0] == 0)  # outside the brain
        # Each channel is its modality: flair brightest in the oedema, t1ce in the enhancing
        # rim (BraTS 4 -> 3), t2 in the core, t1 darkest in the whole tumour.
        mean = {k: case.image[:, case.label == k].mean(1) for k in (1, 2, 3)}
        assert np.argmax(mean[2]) == 0 and np.argmax(mean[3]) == 2 and np.argmax(mean[1]) == 3
        assert all(np.argmin(mean[k]) == 1 for k in (1, 2, 3))
    # D is z: 14 slices of 1.5 mm over 32 voxels; W is x: 20 voxels of 1 mm.
    np.testing.assert_allclose(cases[0].spacing, (14 * 1.5 / 32, 24 * 1.25 / 32, 20 / 32))


def test_brats_z_score_inside_the_brain(tmp_path, tiny):
    """Healthy brain of each channel at (z + 5) / 10, z its raw value's z-score over the brain
    (the voxels where any modality is non-zero), computed here from the raw files."""
    from scipy.ndimage import binary_erosion

    root = brats_tree(tmp_path / "brats", n=1)
    case = resolve_dataset(f"brats:{root}").build(tiny, 0)[0]
    folder = root / "HGG" / "BraTS19_TCIA_000_1"
    raw = np.stack([np.asarray(nib.load(folder / f"BraTS19_TCIA_000_1_{m}.nii.gz").dataobj)
                    for m in BRATS_MODALITIES]).astype(np.float64)
    brain = (raw != 0).any(0)
    healthy = binary_erosion((case.image.max(0) > 0) & (case.label == 0), iterations=2)
    assert healthy.sum() > 500
    for channel, values in zip(case.image, raw):
        z = (100.0 - values[brain].mean()) / values[brain].std()
        assert abs(float(np.median(channel[healthy])) - (z + 5) / 10) < 0.01


def test_brats_refuses_a_missing_modality_a_bad_label_and_a_bad_grid(tmp_path, tiny):
    root = brats_tree(tmp_path / "brats", n=2)
    case = root / "LGG" / "BraTS19_TCIA_001_1"
    (case / "BraTS19_TCIA_001_1_t1ce.nii.gz").unlink()
    with pytest.raises(FolderError, match="BraTS19_TCIA_001_1_t1ce.nii.gz: missing"):
        resolve_dataset(f"brats:{root}")
    root = brats_tree(tmp_path / "brats3", n=2)
    seg = root / "HGG" / "BraTS19_TCIA_000_1" / "BraTS19_TCIA_000_1_seg.nii.gz"
    nib.save(nib.Nifti1Image(np.full(SHAPE, 3, np.uint8), BRATS_AFFINE), seg)
    with pytest.raises(FolderError, match=r"_seg.nii.gz: label values \[3\]"):
        resolve_dataset(f"brats:{root}").build(tiny, 0)
    root = brats_tree(tmp_path / "brats4", n=2)
    t2 = root / "LGG" / "BraTS19_TCIA_001_1" / "BraTS19_TCIA_001_1_t2.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((20, 24, 13), np.int16), BRATS_AFFINE), t2)
    with pytest.raises(FolderError, match=r"001_1_t2.nii.gz in .*: shape \(20, 24, 13\) "
                                          r"differs from BraTS19_TCIA_001_1_flair"):
        resolve_dataset(f"brats:{root}").build(tiny, 0)


def test_brats_empty_folder_is_refused(tmp_path):
    with pytest.raises(FolderError, match="no BraTS case folders"):
        resolve_dataset(f"brats:{tmp_path}")


@pytest.mark.parametrize("style", sorted(FLARE_FOLDERS))
def test_flare_folder_loads_four_organs_with_ct_window(tmp_path, tiny, style):
    root = flare_tree(tmp_path / "flare", n=3, style=style)
    dataset = resolve_dataset(f"flare:{root}")
    assert dataset.class_names == ("liver", "kidney", "spleen", "pancreas")
    assert dataset.modalities == ("CT",)
    cases = dataset.build(tiny, 0)
    assert len(cases) == 3
    case = cases[0]
    assert case.image.shape == (1, 32, 32, 32) and case.label.shape == (32, 32, 32)
    assert set(np.unique(case.label)) == {0, 1, 2, 3, 4}
    # window 50/400: -1000 HU (air) -> 0, liver 90 HU -> 0.6, kidney 200 HU -> 0.875
    assert case.image.min() == 0.0
    assert abs(float(np.median(case.image[0][case.label == 1])) - 0.6) < 0.03
    assert 0.84 < float(case.image[0][case.label == 2].max()) < 0.92  # small: partial volume
    np.testing.assert_allclose(case.spacing, (14 * 2.5 / 32, 24 * 0.8 / 32, 20 * 0.8 / 32))


def test_flare22_labels_fold_into_the_flare21_classes(tmp_path, tiny):
    root = flare_tree(tmp_path / "flare", n=1, style="flare22")
    raw = np.asarray(nib.load(root / "labels" / "FLARE22_Tr_0001.nii.gz").dataobj)
    assert {5, 13} <= set(np.unique(raw))
    case = resolve_dataset(f"flare:{root}").build(tiny, 0)[0]
    assert set(np.unique(case.label)) == {0, 1, 2, 3, 4}
    kidney = (raw == 2) | (raw == 13)
    assert abs(int((case.label == 2).sum()) / case.label.size - kidney.mean()) < 0.01


def test_flare_image_without_label_is_refused(tmp_path):
    root = flare_tree(tmp_path / "flare", n=2)
    (root / "labels" / "FLARE22_Tr_0002.nii.gz").unlink()
    with pytest.raises(FolderError, match="FLARE22_Tr_0002_0000.nii.gz: no label"):
        resolve_dataset(f"flare:{root}")


def test_new_datasets_are_listed():
    result = CliRunner().invoke(main, ["list", "datasets"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()[1:]]
    assert {"brats", "flare", "decathlon"} <= set(names)


# --- uebench dataset check -------------------------------------------------------------------

@pytest.mark.parametrize("make,layout,cases,files", [
    (lambda p: brats_tree(p, n=3), "brats", 3, 15),
    (lambda p: flare_tree(p, n=3), "flare", 3, 6),
    (lambda p: msd_folder(p, n=4), "decathlon (MSD)", 4, 8),
    (lambda p: nnunet_folder(p, n=4), "decathlon (nnU-Net v2)", 4, 8),
])
def test_check_passes_a_clean_folder_in_one_line(tmp_path, make, layout, cases, files):
    root = make(tmp_path / "clean")
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(": ok")
    assert f"{layout} layout, {cases} cases, {files} files" in lines[0]


def _plant_problems(root):
    """Six problems in six cases of a BraTS tree; returns (file, words) each line must have."""
    hgg, lgg = root / "HGG", root / "LGG"

    def path(grade, i, name):
        case = f"BraTS19_TCIA_{i:03d}_1"
        return grade / case / f"{case}_{name}.nii.gz"

    # 0: truncated flair
    target = path(hgg, 0, "flair")
    target.write_bytes(target.read_bytes()[:200])
    # 1: t2 of another shape
    nib.save(nib.Nifti1Image(np.ones((20, 24, 13), np.int16), BRATS_AFFINE), path(lgg, 1, "t2"))
    # 2: seg with a shifted origin (affine mismatch)
    seg = path(hgg, 2, "seg")
    shifted = BRATS_AFFINE.copy()
    shifted[0, 3] += 5.0
    nib.save(nib.Nifti1Image(np.asarray(nib.load(seg).dataobj), shifted), seg)
    # 3: seg with the undeclared value 3
    seg = path(lgg, 3, "seg")
    data = np.asarray(nib.load(seg).dataobj).copy()
    data[data == 4] = 3
    nib.save(nib.Nifti1Image(data, BRATS_AFFINE), seg)
    # 4: a NaN in t1 (float32 file)
    t1 = path(hgg, 4, "t1")
    data = np.asarray(nib.load(t1).dataobj).astype(np.float32)
    data[3, 4, 5] = np.nan
    nib.save(nib.Nifti1Image(data, BRATS_AFFINE), t1)
    # 5: t1ce missing
    path(lgg, 5, "t1ce").unlink()
    return [
        ("HGG/BraTS19_TCIA_000_1/BraTS19_TCIA_000_1_flair.nii.gz", "cannot read: truncated"),
        ("LGG/BraTS19_TCIA_001_1/BraTS19_TCIA_001_1_t2.nii.gz", "shape (20, 24, 13) differs"),
        ("HGG/BraTS19_TCIA_002_1/BraTS19_TCIA_002_1_seg.nii.gz", "label affine differs"),
        ("LGG/BraTS19_TCIA_003_1/BraTS19_TCIA_003_1_seg.nii.gz",
         "label values [3] are not declared in BraTS"),
        ("HGG/BraTS19_TCIA_004_1/BraTS19_TCIA_004_1_t1.nii.gz", "1 NaN/Inf voxel(s)"),
        ("LGG/BraTS19_TCIA_005_1/BraTS19_TCIA_005_1_t1ce.nii.gz", "missing (modality t1ce)"),
    ]


def test_check_reports_every_planted_problem_and_exits_2(tmp_path):
    root = brats_tree(tmp_path / "bad", n=7)
    expected = _plant_problems(root)
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(expected), result.output  # one line each, nothing spurious
    assert lines == sorted(lines)  # in file order
    for name, words in expected:
        assert any(line.startswith(f"{name}: ") and words in line for line in lines), \
            (name, words, lines)
    assert "brats layout, 7 cases" in result.stderr and "6 problem(s)" in result.stderr
    # the same tree named explicitly, and the dataset refuses it naming the first problem
    assert CliRunner().invoke(main, ["dataset", "check", "--layout", "brats",
                                     str(root)]).exit_code == 2
    with pytest.raises(FolderError, match="t1ce.nii.gz: missing"):
        resolve_dataset(f"brats:{root}")


def test_check_decathlon_and_flare_problems(tmp_path):
    msd = msd_folder(tmp_path / "msd", n=4, channels=2)
    image = msd / "imagesTr" / "case_001.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((*SHAPE, 3), np.int16), nib.load(image).affine), image)
    (msd / "labelsTr" / "case_002.nii.gz").write_bytes(b"not a nifti file at all")
    result = CliRunner().invoke(main, ["dataset", "check", str(msd)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "imagesTr/case_001.nii.gz: 3 channel(s); dataset.json declares 2 (MRI, MRI)",
        "labelsTr/case_002.nii.gz: cannot read: not a gzip file",
    ]
    flare = flare_tree(tmp_path / "flare", n=2)
    extra = flare / "images" / "FLARE22_Tr_0009_0000.nii.gz"
    extra.write_bytes((flare / "images" / "FLARE22_Tr_0001_0000.nii.gz").read_bytes())
    (flare / "images" / "FLARE22_Tr_0002_0000.nii.gz").unlink()
    result = CliRunner().invoke(main, ["dataset", "check", str(flare)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "images/FLARE22_Tr_0002_0000.nii.gz: missing (the image of "
        "labels/FLARE22_Tr_0002.nii.gz)",
        "images/FLARE22_Tr_0009_0000.nii.gz: no label (labels/FLARE22_Tr_0009.nii.gz)",
    ]


def test_check_names_an_unknown_layout(tmp_path):
    (tmp_path / "x").mkdir()
    result = CliRunner().invoke(main, ["dataset", "check", str(tmp_path / "x")])
    assert result.exit_code == 2 and "cannot tell its layout" in result.output


# --- layouts come from the registry ----------------------------------------------------------

class FlatFolder(NiftiFolder):
    """A throwaway layout, one file of its own: ``CASE_img.nii.gz`` beside ``CASE_seg.nii.gz``."""

    name = "flat"
    layout = "flat"
    class_names = ("lesion",)

    @classmethod
    def detect(cls, root):
        return any(root.glob("*_seg.nii.gz"))

    @classmethod
    def discover(cls, root):
        layout = FolderLayout("flat", root, ("MRI",), (0, 1), declared_in="the flat layout")
        for seg in sorted(root.glob("*_seg.nii.gz")):
            case = seg.name[: -len("_seg.nii.gz")]
            image = root / f"{case}_img.nii.gz"
            if not image.is_file():
                layout.problem(image, "missing")
            layout.cases.append(CaseFiles(case, [image] * image.is_file(), seg, image.is_file()))
        return layout

    def normalise(self, image, entry):
        return image / image.max()


@pytest.fixture
def flat_layout(monkeypatch):
    """FlatFolder registered as the ``flat`` dataset for one test (as its one line would)."""
    registry.datasets.names()  # the built-ins first
    monkeypatch.setitem(registry.datasets._entries, "flat", FlatFolder)


def flat_folder(root, n=3):
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        seg = np.zeros(SHAPE, np.uint8)
        seg[5:12, 6:14, 4:9] = 1
        image = (rng.normal(100, 10, SHAPE) + 200 * seg).astype(np.int16)
        nib.save(nib.Nifti1Image(image, BRATS_AFFINE), root / f"c{i}_img.nii.gz")
        nib.save(nib.Nifti1Image(seg, BRATS_AFFINE), root / f"c{i}_seg.nii.gz")
    return root


def test_a_registered_layout_is_checked_detected_and_read(tmp_path, tiny, flat_layout):
    root = flat_folder(tmp_path / "flat")
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 0, result.output
    assert "flat layout, 3 cases, 6 files, 1 channel(s) (MRI), labels {0-1}: ok" in result.output
    assert CliRunner().invoke(main, ["dataset", "check", "--layout", "flat",
                                     str(root)]).exit_code == 0
    cases = resolve_dataset(f"flat:{root}").build(tiny, 0)
    assert [c.id for c in cases] == ["c0", "c1", "c2"]
    assert cases[0].image.shape == (1, 32, 32, 32) and set(np.unique(cases[0].label)) == {0, 1}
    (root / "c1_img.nii.gz").unlink()
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 2 and result.stdout.splitlines() == ["c1_img.nii.gz: missing"]
    with pytest.raises(FolderError, match="c1_img.nii.gz: missing in "):
        resolve_dataset(f"flat:{root}")
    result = CliRunner().invoke(main, ["protect", "--method", "random", "--data", str(root),
                                       "--out", str(tmp_path / "out"), "--preset", "tiny"])
    assert result.exit_code == 2 and "cannot write flat folders back" in result.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_or_ambiguous_layout_names_the_registered_ones(tmp_path, flat_layout,
                                                                 monkeypatch):
    root = flare_tree(tmp_path / "flare", n=1)
    result = CliRunner().invoke(main, ["dataset", "check", "--layout", "nope", str(root)])
    assert result.exit_code == 2
    from uebench.custodian.layouts import folder_layouts

    assert {"brats", "decathlon", "flare", "flat"} <= set(folder_layouts())
    assert f"unknown layout 'nope'; one of auto, {', '.join(folder_layouts())}" in result.output
    monkeypatch.setattr(FlatFolder, "detect", classmethod(lambda cls, root: True))
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 2 and "more than one layout (flare, flat)" in result.output


@pytest.mark.parametrize("damage,line", [
    ("orphan", "imagesTr/ct_009_0000.nii.gz: no label (labelsTr/ct_009.nii.gz)"),
    ("count", "dataset.json: numTraining is 5, the folder has 3 cases"),
])
def test_the_dataset_refuses_the_listing_problems_the_check_reports(tmp_path, damage, line):
    """decathlon's listing is written once: what `dataset check` reports of it, the dataset
    refuses, naming the same file."""
    root = nnunet_folder(tmp_path / "nn", n=3)
    if damage == "orphan":
        (root / "imagesTr" / "ct_009_0000.nii.gz").write_bytes(
            (root / "imagesTr" / "ct_000_0000.nii.gz").read_bytes())
    else:
        meta = json.loads((root / "dataset.json").read_text())
        (root / "dataset.json").write_text(json.dumps({**meta, "numTraining": 5}))
    result = CliRunner().invoke(main, ["dataset", "check", str(root)])
    assert result.exit_code == 2 and result.stdout.splitlines() == [line]
    with pytest.raises(FolderError, match=re.escape(f"{line} in {root}")):
        resolve_dataset(f"decathlon:{root}")
