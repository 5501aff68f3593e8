"""A sweep log's steps (``benchmarks/sweep_cost.py``): runs finished, wall and CPU time per
step, a stopped step's runs counted without time, and a step that only skipped recorded runs
left out of the summary."""

import math

import pytest

from benchmarks.sweep_cost import clock_seconds, main, steps, summary


def _timed(command: str, user: float, system: float, elapsed: str) -> str:
    return (f'\tCommand being timed: "{command}"\n\tUser time (seconds): {user}\n'
            f"\tSystem time (seconds): {system}\n\tPercent of CPU this job got: 150%\n"
            f"\tElapsed (wall clock) time (h:mm:ss or m:ss): {elapsed}\n"
            "\tMaximum resident set size (kbytes): 1\n\tExit status: 0\nrc=0\n")


LOG = (
    "Sat Dec  5 19:11:42 UTC 2026\n== a step, seed 0, code at 0da76d7\n"
    "4 runs in the grid, 0 already recorded\n"
    "[1/4] clean vs unet, eps 0.01569, seed 0: DSC 0.742 -> 0.742 (a.json)\n"
    "Sat Dec  5 19:11:53 UTC 2026\n== a step, seed 0, code at b849cff\n"
    "4 runs in the grid, 1 already recorded; 2 worker processes\n"
    "[1/3] em vs unet, eps 0.01569, seed 0: DSC 0.742 -> 0.720 (b.json)\n"
    "[2/3] voxshield vs unet, eps 0.01569, seed 0: DSC 0.742 -> 0.777 (c.json)\n"
    "[3/3] random-roi vs unet, eps 0.01569, seed 0: DSC 0.742 -> 0.764 (d.json)\n"
    + _timed("uebench sweep --seed 0", 4008.56, 7.14, "1:29:34")
    + "Sat Dec  5 20:41:28 UTC 2026\n== skipped, code at b849cff\n"
    "4 runs in the grid, 4 already recorded\n"
    + _timed("uebench sweep --seed 0", 3.1, 0.4, "0:03.69")
)


def test_clock_seconds():
    assert clock_seconds("1:29:34") == 5374
    assert clock_seconds("0:03.69") == pytest.approx(3.69)


def test_steps_count_runs_and_time():
    table = steps(LOG)
    assert list(table["step"]) == ["a step, seed 0", "a step, seed 0", "skipped"]
    assert list(table["code"]) == ["0da76d7", "b849cff", "b849cff"]
    assert list(table["runs"]) == [1, 3, 0]
    stopped, timed = table.iloc[0], table.iloc[1]
    assert math.isnan(stopped["wall s"]) and math.isnan(stopped["CPU s"])
    assert timed["wall s"] == 5374 and timed["CPU s"] == pytest.approx(4015.70)
    assert timed["command"] == "uebench sweep --seed 0" and timed["exit"] == 0


def test_summary_totals_timed_steps_and_counts_stopped_ones():
    text = summary(steps(LOG))
    assert "skipped" not in text
    assert "4 runs finished over 2 steps; 3 in timed steps: wall 1.49 h, CPU 1.12 h" in text
    assert "1 stopped step(s) finished 1 runs" in text


def test_missing_log_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "absent.txt")])
    assert stop.value.code == 2
    assert "no such file" in capsys.readouterr().err
