"""The committed leaderboards must be exactly what the committed records render to: the
protocol-3 CPU boards in leaderboards/, the attacker's-pipeline boards at canary and at quick
in leaderboards/attacker-canary/ and leaderboards/attacker-quick/, and the archived protocol-2
CPU and GPU boards in leaderboards/archive/protocol-2/ (the current code still renders them
byte for byte)."""

from pathlib import Path

import pytest

from uebench.results.leaderboard import render

ROOT = Path(__file__).resolve().parent.parent / "leaderboards"


ARCHIVED = ROOT / "archive" / "protocol-2"


@pytest.mark.parametrize("boards", [ROOT, ROOT / "attacker-canary", ROOT / "attacker-quick",
                                    ARCHIVED / "cpu", ARCHIVED / "gpu"],
                         ids=["cpu", "attacker-canary", "attacker-quick", "protocol-2-cpu",
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
