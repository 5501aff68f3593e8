"""`uebench run`'s place on the committed boards: the run's cell, the matched random-roi cell,
the paired difference and whether it separates, and the method's curve; or a line saying the
boards hold no such cell."""

from __future__ import annotations

import json

from tests.test_curves import grid, record
from uebench.results import records
from uebench.results.context import board_context


def write(folder, made):
    folder.mkdir()
    for r in made:
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    return folder


def test_a_run_reads_its_cell_its_control_and_the_verdict(tmp_path):
    folder = write(tmp_path / "records", grid())
    strong = record("strong", 16 / 255, 0, [0.3] * 16, [0.9] * 16)
    lines = board_context(strong, folder)
    assert "strong on unet at 16/255 (spheres, preset tiny, defense none)" in lines[0]
    assert "over 3 seed(s)" in lines[0]
    assert lines[1].startswith("  matched random-roi: 0.88")
    assert "p = " in lines[1] and ", q = " in lines[1]
    assert lines[2] == ("  separates from random-roi: yes, below it (one-sided paired test, "
                        "Benjamini-Hochberg over the curves board's 8 tests, q < 0.05)")
    assert lines[3].startswith("  strong's curve there: 4/255 0.8")
    weak = board_context(record("weak", 4 / 255, 0, [0.9] * 16, [0.9] * 16), folder)
    assert weak[2] == ("  separates from random-roi: no (one-sided paired test, "
                       "Benjamini-Hochberg over the curves board's 8 tests, q >= 0.05)")


def test_fewer_than_three_seeds_give_no_test(tmp_path):
    folder = write(tmp_path / "records", grid(seeds=(0, 1)))
    lines = board_context(record("strong", 32 / 255, 0, [0.1] * 16, [0.9] * 16), folder)
    assert "fewer than 3 shared seeds" in lines[1]
    assert lines[2].endswith("not testable yet (needs 3 shared seeds)")


def test_a_cell_the_boards_do_not_hold_is_said_so(tmp_path):
    folder = write(tmp_path / "records", grid())
    other = record("strong", 4 / 255, 0, [0.5] * 16, [0.9] * 16, victim="swinunetr")
    assert board_context(other, folder) == [
        f"committed boards ({folder}): no cell for strong on swinunetr at 4/255 (spheres, "
        "preset tiny, defense none) yet"]
    assert board_context(other, tmp_path / "none")[0].startswith(
        f"committed boards: none of protocol {records.PROTOCOL_VERSION} in")
