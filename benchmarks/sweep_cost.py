"""What a board's sweep took, read from its log: each step that ``sweep-and-commit.sh`` logged
(the step's name and code, ``uebench sweep``'s progress lines and ``/usr/bin/time -v``'s
summary) with the runs it finished, its wall time and its process CPU time (user + system),
and the totals: the figures the README gives per board with the host that ran it.

A step that was stopped (the machine or the session ended) has no time summary: its runs are
counted, its time is not, and the table says so.

    python -m benchmarks.sweep_cost leaderboards/methods/sweep-log.txt
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
from tabulate import tabulate

STEP = re.compile(r"^== (?P<name>.*?), code at (?P<code>\w+)$", re.M)
FINISHED = re.compile(r"^\[\d+/\d+\] ", re.M)
COMMAND = re.compile(r'Command being timed: "([^"]*)"')
ELAPSED = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)")


def clock_seconds(text: str) -> float:
    """Seconds of ``/usr/bin/time``'s ``h:mm:ss`` or ``m:ss.ss``."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _time_field(block: str, name: str) -> float:
    return float(re.search(rf"{name} time \(seconds\): ([\d.]+)", block).group(1))


def steps(text: str) -> pd.DataFrame:
    """One row per logged step: name, code, the ``uebench sweep`` command, runs finished,
    wall and CPU seconds (NaN where the step was stopped before its summary) and exit status."""
    rows = []
    starts = list(STEP.finditer(text))
    for start, end in zip(starts, starts[1:] + [None]):
        block = text[start.end():end.start() if end else len(text)]
        command = COMMAND.search(block)
        timed = command is not None and ELAPSED.search(block) is not None
        rows.append({
            "step": start["name"], "code": start["code"],
            "command": command.group(1) if command else "",
            "runs": len(FINISHED.findall(block)),
            "wall s": clock_seconds(ELAPSED.search(block).group(1)) if timed else float("nan"),
            "CPU s": (_time_field(block, "User") + _time_field(block, "System")
                      if timed else float("nan")),
            "exit": int(re.search(r"Exit status: (\d+)", block).group(1)) if timed else None,
        })
    return pd.DataFrame(rows, columns=["step", "code", "command", "runs", "wall s", "CPU s",
                                       "exit"])


def summary(table: pd.DataFrame) -> str:
    """The steps that finished runs, and the totals, as text."""
    worked = table[table["runs"] > 0]
    shown = worked.drop(columns=["command"]).copy()
    shown["exit"] = shown["exit"].map(lambda e: "stopped" if pd.isna(e) else int(e))
    timed = worked.dropna(subset=["wall s"])
    wall, cpu = timed["wall s"].sum() / 3600, timed["CPU s"].sum() / 3600
    stopped = worked[worked["wall s"].isna()]
    lines = [tabulate(shown, headers="keys", tablefmt="github", showindex=False,
                      floatfmt=".0f"), "",
             f"{int(worked['runs'].sum())} runs finished over {len(worked)} steps; "
             f"{int(timed['runs'].sum())} in timed steps: wall {wall:.2f} h, "
             f"CPU {cpu:.2f} h (user + system)."]
    if len(stopped):
        lines.append(f"{len(stopped)} stopped step(s) finished {int(stopped['runs'].sum())} runs "
                     "whose time the log does not hold.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, nargs="+", help="sweep logs (sweep-log.txt)")
    args = parser.parse_args(argv)
    for log in args.logs:
        if not log.is_file():
            parser.error(f"{log}: no such file")
        print(f"## {log}\n\n{summary(steps(log.read_text()))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
