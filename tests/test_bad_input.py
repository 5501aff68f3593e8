"""A new user's bad input over the whole CLI: every kind is refused with exit code 2 and one
line saying what is wrong, before any work starts, and nothing is written anywhere (not under
``--out``, not in the dataset cache, not in the working directory's default folders)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.decathlon_folders import msd_folder
from uebench.cli import main

RUN = ["run", "--victim", "unet", "--dataset", "spheres", "--preset", "tiny", "--out", "{out}"]
SWEEP = ["sweep", "--method", "clean", "--victim", "unet", "--dataset", "spheres", "--preset",
         "tiny", "--out", "{out}"]
PROTECT = ["protect", "--method", "random", "--preset", "tiny"]
ARCHIVED = Path(__file__).resolve().parent.parent / "leaderboards/archive/protocol-2/cpu/records"

# (kind, arguments, a word the one-line message must contain); {name} is a folder of the test's
# workspace (see ``Workspace``).
CASES = [
    # names
    ("unknown method", [*RUN, "--method", "voxshild"], "voxshield"),
    ("unknown victim", ["run", "--method", "clean", "--victim", "unett", "--out", "{out}"],
     "unet"),
    ("unknown dataset", [*RUN, "--method", "clean", "--dataset", "spherez"], "spheres"),
    ("unknown defense", [*RUN, "--method", "clean", "--defense", "zlowpas"], "zlowpass"),
    ("unknown preset", [*RUN, "--method", "clean", "--preset", "quik"], "quick"),
    ("unknown method in a sweep", [*SWEEP, "--method", "randon"], "random"),
    ("unknown preset in a sweep", [*SWEEP, "--preset", "papr"], "paper"),
    ("unknown axis in a sweep", [*SWEEP, "--axis", "epoch"], "epochs"),
    ("unknown method to protect", [*PROTECT, "--method", "opz", "--data", "{msd}", "--out",
                                   "{out}"], "ops"),
    # budgets
    ("zero budget", [*RUN, "--method", "random", "--eps", "0"], "epsilon"),
    ("negative budget", [*RUN, "--method", "random", "--eps", "-4/255"], "epsilon"),
    ("NaN budget", [*RUN, "--method", "random", "--eps", "nan"], "epsilon"),
    ("infinite budget", [*RUN, "--method", "random", "--eps", "inf"], "epsilon"),
    ("budget above 1", [*RUN, "--method", "voxshield", "--eps", "300/255"], "(0, 1]"),
    ("budget above 1 in a sweep", [*SWEEP, "--eps", "4/255", "--eps", "1.5"], "(0, 1]"),
    ("budget above 1 to protect", [*PROTECT, "--data", "{msd}", "--out", "{out}", "--eps",
                                   "300/255"], "(0, 1]"),
    ("division by zero", [*RUN, "--method", "random", "--eps", "1/0"], "not a number"),
    ("budget in words", [*RUN, "--method", "random", "--eps", "four"], "not a number"),
    # parameters
    ("unknown method parameter", [*RUN, "--method", "voxshield", "--param", "lambda=1"],
     "lambda_z"),
    ("parameter of the wrong type", [*RUN, "--method", "voxshield", "--param",
                                     "lambda_z=oops"], "lambda_z"),
    ("parameter without '='", [*RUN, "--method", "voxshield", "--param", "lambda_z"],
     "KEY=VALUE"),
    ("parameter without a name", [*RUN, "--method", "voxshield", "--param", "=0.5"],
     "KEY=VALUE"),
    ("unknown device to protect", [*PROTECT, "--data", "{msd}", "--out", "{out}", "--device",
                                   "tpu"], "tpu"),
    ("unknown parameter to protect", [*PROTECT, "--data", "{msd}", "--out", "{out}",
                                      "--param", "strength=2"], "strength"),
    ("slurm parameter without '='", [*SWEEP, "--executor", "slurm", "--slurm-param",
                                     "partition"], "--slurm-param 'partition'"),
    ("seed in words", [*RUN, "--method", "clean", "--seed", "zero"], "seed"),
    # ranges (voxshield's need its param_ranges: methods/voxshield.py)
    ("count parameter of 0", [*RUN, "--method", "voxshield", "--param", "s_steps=0"],
     "method 'voxshield' parameter s_steps must be >= 1; got 0"),
    ("negative DSC threshold", [*RUN, "--method", "voxshield", "--param", "fit_dsc=-3"],
     "method 'voxshield' parameter fit_dsc must be in [0, 2]; got -3"),
    ("negative seed", [*RUN, "--method", "voxshield", "--seed", "-5"],
     "'--seed': -5 is not in the range x>=0"),
    ("count parameter of 0 for em", [*RUN, "--method", "em", "--param", "steps=0"],
     "method 'em' parameter steps must be >= 1; got 0"),
    ("probability above 1", [*RUN, "--method", "clean", "--defense", "affine:prob=1.5"],
     "parameter prob must be in [0, 1]; got 1.5"),
    ("tuple element out of range", [*RUN, "--method", "clean", "--defense",
                                    "gamma:gamma=(-0.5,1.5)"], "(each element)"),
    ("zero sigma", [*RUN, "--method", "clean", "--defense", "gaussian:sigma=0"],
     "sigma must be > 0"),
    ("negative seed in a sweep", [*SWEEP, "--seed", "0", "--seed", "-5"], "'--seed'"),
    ("negative seed to protect", [*PROTECT, "--data", "{msd}", "--out", "{out}", "--seed",
                                  "-5"], "'--seed'"),
    ("out-of-range parameter to protect", [*PROTECT, "--method", "em", "--data", "{msd}",
                                           "--out", "{out}", "--param", "fit_dsc=-3"],
     "parameter fit_dsc must be in [0, 2]; got -3"),
    ("unknown device", [*RUN, "--method", "clean", "--device", "tpu"], "tpu"),
    ("released folder without its clean folder", [*RUN, "--train-data", "decathlon:{msd}"],
     "--test-data"),
    # dataset folders
    ("missing dataset folder", [*RUN, "--method", "clean", "--dataset", "decathlon:{missing}"],
     "missing"),
    ("empty dataset folder", [*RUN, "--method", "clean", "--dataset", "decathlon:{empty}"],
     "dataset.json"),
    ("broken dataset.json", [*RUN, "--method", "clean", "--dataset", "decathlon:{broken}"],
     "dataset.json"),
    ("check a missing folder", ["dataset", "check", "{missing}"], "missing"),
    ("check an empty folder", ["dataset", "check", "{empty}"], "layout"),
    ("export an unknown dataset", ["export-decathlon", "{out}", "--dataset", "sphere"],
     "spheres"),
    ("export too few cases", ["export-decathlon", "{out}", "--n", "1"], "--n"),
    # records folders
    ("missing records folder", ["leaderboard", "--records", "{missing}", "--out", "{out}"],
     "missing"),
    ("empty records folder", ["leaderboard", "--records", "{empty}", "--out", "{out}"],
     "no run records"),
    ("corrupt record", ["leaderboard", "--records", "{corrupt}", "--out", "{out}"],
     "not readable JSON"),
    ("add a corrupt record", ["leaderboard", "--records", "{empty}", "--add", "{corrupt}",
                              "--out", "{out}"], "not readable JSON"),
    ("report from a missing folder", ["report", "{missing}", "--out", "{out}"], "missing"),
    ("report from an empty folder", ["report", "{empty}", "--out", "{out}"], "no run records"),
    ("report from a corrupt record", ["report", "{corrupt}", "--out", "{out}"], "JSON"),
    ("scaling from a missing folder", ["scaling", "{missing}", "--out", "{out}"], "missing"),
    ("scaling from an empty folder", ["scaling", "{empty}", "--out", "{out}"],
     "no run records"),
    ("scaling from a corrupt record", ["scaling", "{corrupt}", "--out", "{out}"], "JSON"),
    ("scaling without scale-study records", ["scaling", str(ARCHIVED), "--out", "{out}"],
     "no scale-study records"),
    ("compare a missing folder", ["compare", "{missing}", "{corrupt}"], "missing"),
    ("compare an empty folder", ["compare", "{empty}", "{corrupt}"], "no run records"),
    ("compare a corrupt record", ["compare", "{corrupt}", "{corrupt}"], "JSON"),
    # protect's input and output
    ("protect a missing folder", [*PROTECT, "--data", "{missing}", "--out", "{out}"],
     "missing"),
    ("protect into its input", [*PROTECT, "--data", "{msd}", "--out", "{msd}/protected"],
     "inside the input"),
    ("protect into a used folder", [*PROTECT, "--data", "{msd}", "--out", "{used}"],
     "--resume"),
    ("resume a folder protect did not start", [*PROTECT, "--data", "{msd}", "--out", "{used}",
                                               "--resume"], "uebench-protect.json"),
    ("resume from a corrupt manifest", [*PROTECT, "--data", "{msd}", "--out", "{torn}",
                                        "--resume"], "uebench-protect.json: not readable JSON"),
    ("resume from a manifest that is not an object", [*PROTECT, "--data", "{msd}", "--out",
                                                      "{listed}", "--resume"], "not a JSON object"),
    # executor options
    ("unknown executor", [*SWEEP, "--executor", "dask"], "dask"),
    ("zero workers", [*SWEEP, "--workers", "0"], "--workers"),
    ("zero threads", [*SWEEP, "--threads", "0"], "--threads"),
    ("negative GPUs per task", [*SWEEP, "--gpus-per-task", "-1"], "--gpus-per-task"),
    ("ray address without ray", [*SWEEP, "--address", "auto"], "--address"),
]


class Workspace:
    """The folders a case names, made on demand under ``root``: ``missing`` (absent),
    ``empty``, ``broken`` (a dataset.json that is not JSON), ``corrupt`` (a records folder
    with a truncated record), ``msd`` (a valid 4-case MSD folder), ``used`` (a folder with a
    file in it), ``torn`` and ``listed`` (a protect OUT whose manifest is truncated JSON, or a
    JSON list) and ``out`` (absent: where a command would write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __getitem__(self, name: str) -> str:
        path = self.root / name
        if not path.exists() and name not in ("missing", "out"):
            getattr(self, f"_make_{name}")(path)
        return str(path)

    @staticmethod
    def _make_empty(path: Path) -> None:
        path.mkdir()

    @staticmethod
    def _make_broken(path: Path) -> None:
        path.mkdir()
        (path / "dataset.json").write_text('{"name": "Toy", "labels": ')

    @staticmethod
    def _make_corrupt(path: Path) -> None:
        path.mkdir()
        (path / "clean-unet-0123456789.json").write_text('{"schema_version": 1, "spec": {')

    @staticmethod
    def _make_msd(path: Path) -> None:
        msd_folder(path)

    @staticmethod
    def _make_used(path: Path) -> None:
        path.mkdir()
        (path / "notes.txt").write_text("someone's files\n")

    @staticmethod
    def _make_torn(path: Path) -> None:
        path.mkdir()
        (path / "uebench-protect.json").write_text('{"settings": {')

    @staticmethod
    def _make_listed(path: Path) -> None:
        path.mkdir()
        (path / "uebench-protect.json").write_text("[]")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def error_line(output: str) -> str:
    """The one ``Error: ...`` line a refusal ends with (after click's usage lines, if any)."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert lines and lines[-1].startswith("Error: "), output
    assert sum(line.startswith("Error: ") for line in lines) == 1, output
    return lines[-1]


@pytest.mark.parametrize("kind,args,word", CASES, ids=[case[0] for case in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(kind, args, word, tmp_path,
                                                            monkeypatch):
    workspace = Workspace(tmp_path / "work")
    (tmp_path / "work").mkdir()
    argv = [arg.format_map(workspace) for arg in args]
    monkeypatch.chdir(tmp_path)  # default folders (runs/, leaderboards/) would land here
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (kind, result.output, result.exception)
    assert word in error_line(result.output), result.output
    assert snapshot(tmp_path) == before, f"{kind}: wrote files"


def test_the_campaign_covers_at_least_20_kinds_of_every_area():
    assert len(CASES) >= 20
    commands = {args[0] for _, args, _ in CASES}
    assert commands == {"run", "sweep", "protect", "dataset", "export-decathlon",
                        "leaderboard", "scaling", "report", "compare"}


def test_dataset_check_names_each_problem_of_a_broken_folder_on_one_line(tmp_path):
    folder = Path(Workspace(tmp_path)["broken"])
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["dataset", "check", str(folder)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    problem, summary = result.output.strip().splitlines()
    assert problem.startswith("dataset.json: not valid JSON")
    assert summary.endswith("1 problem(s)")
    assert snapshot(tmp_path) == before
