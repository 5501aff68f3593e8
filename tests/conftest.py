"""Shared fixtures: a tiny preset, an isolated cache, and small datasets."""

from __future__ import annotations

import pytest

from uebench.contracts.core import Preset
from uebench.contracts.presets import PRESETS

TINY = Preset(name="tiny", volume_size=32, n_cases=6, epochs=2, batch_size=2, lr=2e-3)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own dataset cache and the ``tiny`` preset."""
    monkeypatch.setenv("UEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(PRESETS, "tiny", TINY)
    return tmp_path / "cache"


@pytest.fixture
def tiny() -> Preset:
    return TINY
