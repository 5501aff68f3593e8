"""Whether this folder's undefended quick records equal the archived protocol-3 quick
board's (leaderboards/archive/protocol-3/cpu/records) case by case: the same spec (method,
seed, budget) trained again on another host, with later code, either reproduces the board bit
for bit or it does not.

Run from the repository root: python leaderboards/attacker-quick/same_as_board.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOARD = HERE.parent / "archive" / "protocol-3" / "cpu" / "records"


def spec_key(record: dict) -> tuple:
    spec = record["spec"]
    return spec["method"], spec["seed"], round(spec["epsilon"], 5)


def undefended_quick_unet(folder: Path) -> dict:
    records = {}
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        spec = record["spec"]
        if (spec["preset"], spec["victim"], spec["defense"]) == ("quick", "unet", "none"):
            records[spec_key(record)] = record
    return records


def per_case(record: dict, arm: str) -> list:
    return [case["dsc"] for case in record["efficacy"][arm]["per_case"]]


def main() -> None:
    board = undefended_quick_unet(BOARD)
    for key, record in sorted(undefended_quick_unet(HERE / "records").items()):
        committed = board.get(key)
        if committed is None:
            print(key, "no board record")
            continue
        arm = "protected_trained" if "protected_trained" in record["efficacy"] else "clean_trained"
        same = all(per_case(record, a) == per_case(committed, a) for a in {arm, "clean_trained"})
        here, there = record["environment"], committed["environment"]
        print(key, "identical per case" if same else "DIFFERENT",
              f"{record['efficacy'][arm]['dsc_fg_mean']:.3f}",
              f"(here, {here['git_commit'][:7]}, {here.get('cpu_id')})",
              f"{committed['efficacy'][arm]['dsc_fg_mean']:.3f}",
              f"(board, {there['git_commit'][:7]}, {there['platform']})")


if __name__ == "__main__":
    main()
