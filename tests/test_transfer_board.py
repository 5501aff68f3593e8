"""The transfer board: each protection's paired difference to random-roi on every victim."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.test_curves import BUDGETS, record
from uebench.results.leaderboard import boards, render


def crossed(victims=("unet", "segresnet"), protocol: int = 4) -> list[dict]:
    """'strong' lowers the unet by 0.3 and leaves the segresnet at random-roi's level;
    'random' (a control) stays there on both; 3 seeds at 32/255."""
    rng = np.random.default_rng(3)
    made = []
    for victim in victims:
        for seed in (0, 1, 2):
            clean = list(0.9 + rng.normal(0, 0.01, 12))
            drop = {"unet": 0.3}.get(victim, 0.0)
            for method, level in (("random-roi", 0.88), ("random", 0.88),
                                  ("strong", 0.88 - drop)):
                made.append(record(method, BUDGETS[3], seed,
                                   list(level + rng.normal(0, 0.01, 12)), clean,
                                   protocol=protocol, victim=victim))
    for r in made:
        r["run_id"] = f"{r['run_id']}-{r['spec']['victim']}"
    return made


def test_the_matrix_has_a_row_per_method_and_a_column_per_victim():
    table = boards(crossed())["transfer"].table.set_index("method")
    assert list(table.columns) == ["dataset", "preset", "epsilon", "segresnet", "unet", "seeds"]
    assert set(table.index) == {"random", "strong"}  # not the matched control itself
    strong = table.loc["strong", "unet"]
    assert strong.startswith("-0.3") and strong.endswith("↓")
    assert "↓" not in table.loc["strong", "segresnet"]
    assert "↓" not in table.loc["random", "unet"] and table.loc["strong", "seeds"] == 3


def test_the_board_is_rendered_with_its_tests_only_for_several_victims_at_protocol_4(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for one in crossed():
        (folder / f"{one['run_id']}.json").write_text(json.dumps(one))
    render(folder, tmp_path / "boards")
    board = (tmp_path / "boards" / "transfer.md").read_text()
    assert "over this board's 4 tests" in board and "paired t-test" in board
    csv = pd.read_csv(tmp_path / "boards" / "transfer.csv")
    assert len(csv) == 2
    assert "transfer" not in boards(crossed(victims=("unet",)))
    assert "transfer" not in boards(crossed(protocol=3))
