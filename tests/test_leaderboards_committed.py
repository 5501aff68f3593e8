"""The committed leaderboards must be exactly what the committed records render to."""

from pathlib import Path

from uebench.leaderboard import render

ROOT = Path(__file__).resolve().parent.parent / "leaderboards"


def test_committed_tables_match_committed_records(tmp_path):
    records = ROOT / "records"
    assert list(records.glob("*.json")), "leaderboards/records holds no records"
    written = render(records, tmp_path)
    for path in written:
        committed = ROOT / path.name
        assert committed.exists(), f"{committed} is missing: run `uebench leaderboard`"
        assert committed.read_text() == path.read_text(), (
            f"{committed} differs from the records: run `uebench leaderboard`")
