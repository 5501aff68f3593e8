"""The committed leaderboards must be exactly what the committed records render to: the
protocol-4 methods board in leaderboards/, its transfer board in leaderboards/transfer/ and
its defense board in leaderboards/defenses/, the attacker's-pipeline boards at canary and at
quick in leaderboards/attacker-canary/ and leaderboards/attacker-quick/, the studies' boards
(scale study, recipe walk, VoxShield's ablation) and the archived protocol-3 CPU board and
protocol-2 CPU and GPU boards in leaderboards/archive/ (the current code still renders them
byte for byte)."""

import importlib
from pathlib import Path

import pytest

from uebench.results.leaderboard import render

ROOT = Path(__file__).resolve().parent.parent / "leaderboards"


ARCHIVED = ROOT / "archive"


@pytest.mark.parametrize("boards", [ROOT, ROOT / "transfer", ROOT / "defenses",
                                    ROOT / "attacker-canary",
                                    ROOT / "attacker-quick",
                                    ARCHIVED / "protocol-3" / "cpu",
                                    ARCHIVED / "protocol-2" / "cpu",
                                    ARCHIVED / "protocol-2" / "gpu"],
                         ids=["methods", "transfer", "defenses", "attacker-canary",
                              "attacker-quick", "protocol-3-cpu", "protocol-2-cpu",
                              "protocol-2-gpu"])
def test_committed_tables_match_committed_records(tmp_path, boards):
    records = boards / "records"
    assert list(records.glob("*.json")), f"{records} holds no records"
    written = render(records, tmp_path)
    for path in written:
        committed = boards / path.name
        assert committed.exists(), f"{committed} is missing: run `uebench leaderboard`"
        assert committed.read_text() == path.read_text(), (
            f"{committed} differs from the records: run `uebench leaderboard`")


@pytest.mark.parametrize("render_study, folder, records", [
    ("uebench.results.scaling:render_scaling", "scaling", "scaling/records"),
    ("uebench.results.walk_board:render_walk", "recipe", "recipe/records"),
    ("uebench.results.ablation_board:render_ablation", "recipe/ablation",
     "recipe/ablation/records"),
], ids=["scaling", "recipe-walk", "voxshield-ablation"])
def test_committed_study_boards_match_committed_records(tmp_path, render_study, folder,
                                                        records):
    """The studies' boards (scale study, recipe walk, VoxShield's ablation and saturation)
    are what their committed records render to (`uebench scaling|walk|ablation`)."""
    module, function = render_study.split(":")
    render_board = getattr(importlib.import_module(module), function)
    assert list((ROOT / records).glob("*.json")), f"{ROOT / records} holds no records"
    written, _ = render_board(ROOT / records, tmp_path)
    for path in written:
        committed = ROOT / folder / path.name
        assert committed.exists(), f"{committed} is missing: render the study's board"
        assert committed.read_text() == path.read_text(), (
            f"{committed} differs from its records: render the study's board")
