"""`uebench report`: the page renders from a small set of synthetic records, every image it
names exists, the example and spectrum figures read cached deltas, and bad input exits 2."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from uebench.cli import main
from uebench.contracts import registry
from uebench.contracts.budget import storage_scale
from uebench.kit.spectra import z_spectrum
from uebench.report.build import pick_example
from uebench.report.page import example_section
from uebench.results import records
from uebench.runner.data import fingerprint, load_cases, split_cases
from uebench.runner.pipeline import RunSpec, resolve
from uebench.runner.stages import protection_key
from uebench.runner.store import StageCache, default_cache_root

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["class1", "class2", "class3"]
# method -> protected-trained DSC at 4/255 (it falls with the budget); clean-trained is 0.85
METHODS = {"voxshield": 0.7, "em": 0.8, "random": 0.84, "random-roi": 0.85, "clean": 0.85}
BUDGETS = [4 / 255, 8 / 255, 16 / 255]


def _evaluation(rng: np.random.Generator, mean: float) -> dict:
    cases = []
    for i in range(3):
        dsc = {name: float(np.clip(mean + rng.normal(0, 0.03), 0, 1)) for name in CLASSES}
        cases.append({"id": f"spheres-{i:03d}", "dsc": dsc, "hd95": dict.fromkeys(CLASSES, 3.0)})
    per_class = {name: float(np.mean([c["dsc"][name] for c in cases])) for name in CLASSES}
    return {"dsc": per_class, "dsc_fg_mean": float(np.mean(list(per_class.values()))),
            "dsc_fg_std_over_cases": 0.01, "hd95": dict.fromkeys(CLASSES, 3.0),
            "hd95_fg_mean": 3.0, "n_cases": 3, "per_case": cases,
            "empty_rule": "nnU-Net: NaN when prediction and reference are both empty"}


def make_record(method: str, epsilon: float, seed: int, victim: str = "unet",
                l0: bool = False) -> dict:
    """A record assembled as the pipeline assembles one, from fake stage results (spheres,
    tiny preset)."""
    spec = RunSpec(method, victim, "spheres", epsilon=epsilon, seed=seed, preset="tiny")
    rng = np.random.default_rng([seed, int(epsilon * 255), len(method)])
    budget = ({"norm": "l0", "max_fraction": 0.0078125, "storage": "float32"} if l0 else
              {"norm": "linf", "epsilon": epsilon, "storage": "int8",
               "storage_scale": storage_scale(epsilon)})
    protection = {
        "fidelity": {"linf": epsilon, "l2": 1.0, "l0_fraction": 0.1,
                     "psnr_whole": 60 - 100 * epsilon, "psnr_roi": 45 - 100 * epsilon,
                     "ssim_whole": 0.99, "ssim_roi": 0.98, "measured_on": "stored form",
                     "budget": budget},
        "throughput": {"device": "cpu", "fit_seconds": 1.0, "perturb_seconds": 1.0,
                       "wall_seconds": 2.0, "volumes": 4, "volumes_per_second": 2.0,
                       "voxels_per_second": 1e5, "perturb_volumes_per_second": 4.0}}
    training = {"seconds_per_epoch": 1.0}
    clean = {"evaluation": _evaluation(rng, 0.85), "training": training}
    level = METHODS.get(method, 0.8) * (4 / 255 / epsilon) ** 0.2
    protected = {"evaluation": _evaluation(rng, level), "training": training}
    dataset = {"name": "spheres", "spec": "spheres", "fingerprint": "f", "label": "spheres",
               "class_names": CLASSES, "regions": {},
               "split": {"train": 4, "val": 1, "test": 1}, "volume_size": 32}
    return records.assemble(
        spec.run_id(), asdict(spec),
        {"device": "cpu", "git_commit": "0" * 40, "packages": {}, "platform": "test",
         "python": "3"},
        {"name": method, "norm": budget["norm"], "epsilon": epsilon, "params": {},
         "deviations": "", "history": [], "budget": budget},
        registry.methods.get(method).role, dataset, {"name": "tiny", "volume_size": 32},
        protection, clean, protected, 5.0)


def cache_deltas(record: dict, cache_root: Path) -> None:
    """Store int8 deltas for the record's training cases where the pipeline would."""
    spec = RunSpec(**record["spec"])
    resolved = resolve(spec)
    cases = load_cases(resolved.dataset, resolved.preset, StageCache(default_cache_root()))
    train = split_cases(cases).train
    rng = np.random.default_rng(len(record["spec"]["method"]))
    deltas = {case.id: rng.integers(-127, 128, case.image.shape).astype(np.int8)
              for case in train}
    key = protection_key(fingerprint(resolved.dataset, resolved.preset), resolved.method,
                         spec.seed, resolved.preset)
    StageCache(cache_root).put_arrays("protect", key, deltas)


@pytest.fixture
def runs(tmp_path) -> Path:
    """``runs/records`` with 4 methods + clean x 3 budgets x 2 seeds on unet, a few unet2d
    runs and one L0 (ops) run; deltas cached for voxshield and random-roi at 16/255."""
    folder = tmp_path / "runs" / "records"
    folder.mkdir(parents=True)
    made = [make_record(m, eps, seed) for m in METHODS for eps in BUDGETS for seed in (0, 1)]
    made += [make_record(m, 4 / 255, 0, victim="unet2d") for m in ("voxshield", "random-roi")]
    made.append(make_record("ops", 4 / 255, 0, l0=True))
    for record in made:
        (folder / f"{record['run_id']}.json").write_text(json.dumps(record))
    for method in ("voxshield", "random-roi"):
        cache_deltas(make_record(method, 16 / 255, 0), tmp_path / "runs" / "cache")
    return tmp_path / "runs"


def test_report_renders_a_page_whose_images_all_exist(runs, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(runs / "records"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) >= 4  # curves, PSNR scatter, example, spectrum
    for name in images:
        assert "/" not in name and not name.startswith("http")  # relative, local
        data = (out / name).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), name
    assert "<script" not in page.lower()
    example = make_record("voxshield", 16 / 255, 0)["run_id"]  # the default pick
    assert f"example-{example}.png" in images
    assert "not available" not in page.lower()  # both cache-backed figures found their deltas
    assert "high_z_energy_share" in page and "random-roi" in page


def test_example_without_cached_deltas_is_a_text_panel(runs, tmp_path):
    record = make_record("voxshield", 8 / 255, 0)
    section = example_section(record, runs / "cache", tmp_path)
    assert section.caption.startswith("Not available") and record["run_id"] in section.caption
    assert (tmp_path / section.images[0]).read_bytes().startswith(PNG_MAGIC)


def test_default_example_is_voxshield_at_the_largest_budget(runs):
    chosen = pick_example(records.load_records(runs / "records"))
    assert chosen["spec"]["method"] == "voxshield"
    assert chosen["spec"]["epsilon"] == max(BUDGETS) and chosen["spec"]["seed"] == 0


def test_z_spectrum_of_white_noise_spreads_energy_evenly():
    noise = np.random.default_rng(0).standard_normal((1, 64, 8, 8))
    amplitude, share = z_spectrum(noise)
    assert amplitude.shape == (33,) and 0.4 < share < 0.6


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_no_records_is_a_usage_error(tmp_path, make):
    folder = tmp_path / "records"
    if make == "empty":
        folder.mkdir()
    result = CliRunner().invoke(main, ["report", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert ("does not exist" if make == "missing" else "holds no run records") in result.output
    assert not (tmp_path / "o" / "index.html").exists()


def test_unknown_example_names_close_matches(runs, tmp_path):
    wanted = make_record("voxshield", 16 / 255, 0)["run_id"]
    result = CliRunner().invoke(main, ["report", str(runs / "records"), "--out",
                                       str(tmp_path / "o"), "--example", wanted[:-1] + "x"])
    assert result.exit_code == 2 and wanted in result.output


def test_defended_records_add_the_defense_figure_not_one_budget_curves(runs, tmp_path):
    folder = runs / "records"
    for method in ("clean", "voxshield", "random-roi"):
        for seed in (0, 1):
            record = make_record(method, 16 / 255, seed)
            record["spec"]["defense"] = "gamma"
            record["run_id"] += "-gamma"
            (folder / f"{record['run_id']}.json").write_text(json.dumps(record))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    images = re.findall(r'<img src="([^"]+)"', (out / "index.html").read_text())
    assert "defenses-spheres-tiny.png" in images
    assert (out / "defenses-spheres-tiny.png").read_bytes().startswith(PNG_MAGIC)
    assert not any("gamma" in name for name in images)  # one budget: no curve of its own
