"""Shared fixtures: a tiny preset (registered for every test), an isolated cache, and small
datasets."""

from __future__ import annotations

import pytest

from uebench.contracts.core import Preset
from uebench.contracts.registry import register_preset

TINY = register_preset(Preset(name="tiny", volume_size=32, n_cases=6, epochs=2, batch_size=2,
                              lr=2e-3))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own dataset cache."""
    monkeypatch.setenv("UEBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny() -> Preset:
    return TINY
