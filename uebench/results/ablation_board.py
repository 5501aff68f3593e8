"""VoxShield's ablation board and its generator's saturation, per epoch.

The ablation (issue 31): VoxShield with one loss term switched off or rescaled
(``voxshield[lambda_z=0]``, ``[lambda_l=0]``, both, ``[lambda_z_area_scaled=True]``) beside
its default, the matched random-roi and the clean-trained victim, at one preset. The board is
``curves.curve_table``'s cells rendered as the scale study renders its axes
(``scaling.scaling_table``), the axis being the ablation and its value the variant, so
intervals, the paired tests and their ↓ (one family per board, ``curves.flag_below``) follow the
rules of every other board.

The saturation table reads each VoxShield record's per-epoch history (``method.history``:
``roi_at_bound``, ``roi_sign_flipped``, ``surrogate_train_dsc``, ``zdiv``) and says, per
variant and budget, how fast the delta reaches the bound and when its sign pattern freezes,
against what the surrogate had learnt by then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from uebench.results import records as rec
from uebench.results.curves import curve_table, flag_below
from uebench.results.leaderboard import Board, write_board
from uebench.results.records import Record
from uebench.results.scaling import COMPARISONS, header, scaling_table
from uebench.results.scaling import HEADER as SCALING_HEADER

AXIS = "voxshield ablation"
METHOD = "voxshield"
FROZEN = 0.001
"""An epoch is frozen when fewer than this share of ROI voxels flipped sign since the last."""
SNAPSHOTS = (1, 5, 10)
"""The epochs whose share of ROI voxels at the bound the saturation table shows."""


class AblationError(ValueError):
    """Records that hold no VoxShield ablation, or more than one preset of it."""


def variant(method_label: str) -> str:
    """``voxshield[lambda_z=0]`` -> ``lambda_z=0``; ``voxshield`` -> ``default``; controls
    keep their name."""
    if method_label == METHOD:
        return "default"
    if method_label.startswith(f"{METHOD}["):
        return method_label[len(METHOD) + 1:-1]
    return method_label


def _single_preset(records: list[Record]) -> str:
    presets = sorted({r["spec"]["preset"] for r in records})
    if len(presets) != 1:
        raise AblationError(f"an ablation board is of one preset; these records are of "
                            f"{', '.join(presets) or 'none'}")
    return presets[0]


def ablation_cells(records: list[Record]) -> pd.DataFrame:
    """``curve_table``'s cells at the L-inf budgets, each with ``axis`` (the ablation) and
    ``value`` (the variant), VoxShield's variants first in record order of their names, then
    the controls, flagged over the board's tests (``flag_below``, both comparisons);
    ``AblationError`` without a VoxShield record or with several presets."""
    if not any(r["spec"]["method"] == METHOD for r in records):
        raise AblationError(f"no {METHOD} record: nothing to ablate")
    _single_preset(records)
    rec.single_protocol(records)
    rec.single_device_kind(records)
    cells = curve_table(records)
    cells = cells[cells["budget"].notna()].assign(axis=AXIS)
    cells["value"] = cells["method"].map(variant)
    cells["control"] = ~cells["method"].str.startswith(METHOD)
    order = ["budget", "control", "method"]
    return flag_below(cells.sort_values(order, kind="stable").drop(columns="control")
                      .reset_index(drop=True), COMPARISONS)


def frozen_from(flipped: list[float]) -> int | None:
    """The first epoch (1-based) from which every later epoch flipped fewer than ``FROZEN``
    of the ROI's signs; None when the last epoch still flips more."""
    epoch = None
    for index, share in enumerate(flipped, start=1):
        if share is None or np.isnan(share) or share >= FROZEN:
            epoch = None
        elif epoch is None:
            epoch = index
    return epoch


def saturation_rows(records: list[Record]) -> pd.DataFrame:
    """One row per VoxShield record with a per-epoch history: its variant, budget and seed;
    the share of ROI voxels at the bound after ``SNAPSHOTS`` epochs and the last; the epoch
    the sign pattern froze and the surrogate's train DSC then; the last epoch's surrogate
    train DSC and Zdiv."""
    rows = []
    for record in records:
        history = record["method"].get("history") or []
        if record["spec"]["method"] != METHOD or not history:
            continue
        flipped = [epoch.get("roi_sign_flipped", np.nan) for epoch in history]
        frozen = frozen_from(flipped[1:])
        frozen = frozen + 1 if frozen is not None else None
        at_bound = {f"at_bound_e{n}": history[n - 1]["roi_at_bound"] if n <= len(history)
                    else np.nan for n in SNAPSHOTS}
        rows.append({
            "preset": record["spec"]["preset"], "schedule": record["method"]["params"].get(
                "schedule", ""), "variant": variant(rec.method_label(record)),
            "budget": record["spec"]["epsilon"], "epsilon": rec.budget_label(record),
            "seed": record["spec"]["seed"], "epochs": len(history), **at_bound,
            "at_bound_last": history[-1]["roi_at_bound"],
            "frozen_epoch": frozen,
            "surrogate_dsc_frozen": history[frozen - 1]["surrogate_train_dsc"]
            if frozen is not None else np.nan,
            "surrogate_dsc_last": history[-1]["surrogate_train_dsc"],
            "zdiv_last": history[-1]["zdiv"],
        })
    return pd.DataFrame(rows)


def saturation_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``saturation_rows`` per (preset, schedule, variant, budget): the mean over seeds and,
    for the frozen epoch, its range; shares as percentages."""
    def summary(group: pd.DataFrame) -> pd.Series:
        frozen = group["frozen_epoch"].dropna()
        out = {"seeds": len(group), "epochs": _range_text(group["epochs"])}
        for column in [f"at_bound_e{n}" for n in SNAPSHOTS] + ["at_bound_last"]:
            out[f"{column}_%"] = round(100 * group[column].mean(), 1)
        out["frozen_epoch"] = (_range_text(frozen) if len(frozen) == len(group)
                               else f"{_range_text(frozen)} ({len(group) - len(frozen)} never)")
        out["surrogate_dsc_when_frozen"] = round(group["surrogate_dsc_frozen"].mean(), 3)
        out["surrogate_dsc_last"] = round(group["surrogate_dsc_last"].mean(), 3)
        out["zdiv_last"] = round(group["zdiv_last"].mean(), 3)
        return pd.Series(out)

    keys = ["preset", "schedule", "budget", "epsilon", "variant"]
    table = rows.groupby(keys, sort=True).apply(summary, include_groups=False).reset_index()
    return table.drop(columns="budget")


def _range_text(values: pd.Series) -> str:
    """``12`` or ``9-14``; blank when empty."""
    values = values.dropna().astype(int)
    if values.empty:
        return ""
    low, high = values.min(), values.max()
    return f"{low}" if low == high else f"{low}-{high}"


HEADER = (
    f"VoxShield's ablation: {METHOD} with its z-term (lambda_z), its logit term (lambda_l), "
    "both switched off (a pure min-min generator), or lambda_z scaled by slice area relative "
    "to 160^3 (lambda_z_area_scaled), beside its defaults, the matched random-roi and the "
    "clean-trained victim, at one preset. value = the variant. Columns as the scale study's: "
    + SCALING_HEADER.split("Per axis point, method and budget: ", 1)[1]
)

SATURATION_HEADER = (
    "VoxShield's generator per epoch, from each record's history (mean over seeds): "
    "at_bound_eN_% = the share of ROI voxels with |delta| >= 0.99 eps after epoch N (last = "
    "the last epoch); frozen_epoch = the first epoch from which fewer than "
    f"{FROZEN:.1%} of ROI voxels flip sign per epoch until the end (range over seeds; 'never' "
    "= the last epoch still flips more); surrogate_dsc_when_frozen = the surrogate's train "
    "foreground DSC at that epoch; surrogate_dsc_last and zdiv_last = at the last epoch."
)


def ablation_boards(records: list[Record], cells: pd.DataFrame) -> dict[str, Board]:
    """The ablation board of ``cells`` (``ablation_cells(records)``) and the saturation board
    of ``records`` (``saturation_boards``), each with its header: what ``render_ablation``
    writes and the documentation site shows."""
    return {"ablation": Board(scaling_table(cells), header(cells, HEADER)),
            **saturation_boards(records)}


def render_ablation(records_dir: Path, out_dir: Path) -> tuple[list[Path], pd.DataFrame]:
    """Write ``ablation.md``/``.csv`` and ``saturation.md``/``.csv`` into ``out_dir`` from the
    records in ``records_dir``; returns the paths and the generator's per-epoch history
    (``history_rows``, for the saturation figure)."""
    records = rec.load_records(records_dir)
    cells = ablation_cells(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_boards(ablation_boards(records, cells), records, out_dir), history_rows(records)


HISTORY_FIELDS = ("roi_at_bound", "roi_sign_flipped", "surrogate_train_dsc")
"""The per-epoch generator fields the saturation figure draws."""


def history_rows(records: list[Record]) -> pd.DataFrame:
    """One row per epoch of each VoxShield record's generator history: its method label and
    role (as the figures' palette takes them), budget, seed, epoch and ``HISTORY_FIELDS``."""
    return pd.DataFrame([
        {"method": rec.method_label(record), "role": rec.role(record),
         "budget": record["spec"]["epsilon"], "seed": record["spec"]["seed"],
         "epoch": entry["epoch"], **{field: entry.get(field, np.nan) for field in HISTORY_FIELDS}}
        for record in records if record["spec"]["method"] == METHOD
        for entry in record["method"].get("history") or []])


def saturation_boards(records: list[Record]) -> dict[str, Board]:
    """The saturation board of the VoxShield records with a history, with its header; empty
    when no record has one."""
    rows = saturation_rows(records)
    return {} if rows.empty else {"saturation": Board(saturation_table(rows),
                                                      SATURATION_HEADER)}


def write_boards(boards: dict[str, Board], records: list[Record], out_dir: Path) -> list[Path]:
    """Write each of ``boards`` as ``<name>.md``/``.csv`` into ``out_dir`` (``write_board``);
    returns the paths."""
    return [path for name, board in boards.items()
            for path in write_board(name, board.table, records, board.header, out_dir)]

