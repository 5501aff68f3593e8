"""How boards name things: budgets (``4/255``, ``L0 0.78%``), methods with their overrides,
and datasets (never a local path)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def epsilon_label(value: float) -> str:
    """``4/255`` for budgets on the 1/255 grid, else the number."""
    fraction = Fraction(value).limit_denominator(255 * 16)
    if fraction.denominator and 255 % fraction.denominator == 0:
        return f"{fraction.numerator * (255 // fraction.denominator)}/255"
    return f"{value:.4g}"


def budget_label(record: dict[str, Any]) -> str:
    """The run's budget: ``4/255`` for L-inf, ``L0 0.78%`` for a method bounded in L0."""
    budget = record["method"].get("budget", {})
    if budget.get("norm") == "l0":
        return f"L0 {budget['max_fraction']:.2%}"
    return epsilon_label(record["spec"]["epsilon"])


def method_label(name: str, params: dict[str, Any]) -> str:
    """``voxshield`` or, with overrides, ``voxshield[s_steps=40]``: rows never mix settings."""
    if not params:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"


def dataset_label(record: dict[str, Any]) -> str:
    """The record's dataset as boards show it (``decathlon:NAME#fingerprint`` for a local
    folder; records older than the label show their spec)."""
    return record["dataset"].get("label") or record["spec"]["dataset"]
