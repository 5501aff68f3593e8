"""Leaderboards (Markdown + CSV) rendered from run records with pandas and tabulate.

Four tables: grid (protected-trained DSC, methods x victims, the view the headline numbers come
from), efficacy (clean-trained vs protected-trained DSC on the clean test split, mean
+- std over seeds), fidelity (measured on the stored form) and throughput. Rendering is
deterministic so a test can re-render the committed tables from the committed records.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from uebench.evaluation import EMPTY_RULE
from uebench.store import read_json

KEYS = ["dataset", "victim", "method", "epsilon", "defense", "preset"]


def load_records(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.json`` record under ``folder``, in file-name order."""
    return [read_json(p) for p in sorted(Path(folder).glob("*.json"))]


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


def _row(record: dict[str, Any]) -> dict[str, Any]:
    spec, eff = record["spec"], record["efficacy"]
    fid, thr = record["fidelity"], record["throughput"]
    return {
        "dataset": spec["dataset"], "victim": spec["victim"],
        "method": method_label(spec["method"], spec.get("method_params") or {}),
        "epsilon": budget_label(record), "defense": spec["defense"],
        "preset": spec["preset"], "seed": spec["seed"],
        "clean_dsc": eff["clean_trained"]["dsc_fg_mean"],
        "protected_dsc": eff["protected_trained"]["dsc_fg_mean"],
        "drop": eff["dsc_drop"]["dsc_fg_mean"],
        "protected_hd95_mm": eff["protected_trained"].get("hd95_fg_mean"),
        "linf_x255": fid["linf"] * 255, "l2": fid["l2"],
        "psnr_whole": fid["psnr_whole"], "psnr_roi": fid.get("psnr_roi"),
        "ssim_whole": fid["ssim_whole"], "ssim_roi": fid.get("ssim_roi"),
        "protect_device": thr["protect"]["device"],
        "protect_s": thr["protect"]["wall_seconds"],
        "volumes_per_s": thr["protect"]["volumes_per_second"],
        "mvoxels_per_s": thr["protect"]["voxels_per_second"] / 1e6,
        "fit_s": thr["protect"]["fit_seconds"],
        "perturb_s": thr["protect"]["perturb_seconds"],
        "protect_timed": "protect" not in record["timings"]["cached_stages"],
    }


def _mean_std(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(KEYS, sort=True, dropna=False)
    out = grouped.size().rename("seeds").to_frame()
    for column in columns:
        mean, std = grouped[column].mean(), grouped[column].std(ddof=0)
        out[column] = [_pm(m, s) for m, s in zip(mean, std)]
    return out.reset_index()


def _pm(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.3f}" if pd.isna(std) or std == 0 else f"{mean:.3f} ± {std:.3f}"


def tables(records: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """The grid, efficacy, fidelity and throughput tables from ``records``."""
    frame = pd.DataFrame([_row(r) for r in records])
    if frame.empty:
        return {}
    efficacy = _mean_std(frame, ["clean_dsc", "protected_dsc", "drop", "protected_hd95_mm"])
    fidelity = (frame.groupby(["dataset", "method", "epsilon", "preset"], sort=True)
                [["linf_x255", "l2", "psnr_whole", "psnr_roi", "ssim_whole", "ssim_roi"]]
                .mean().round(4).reset_index())
    timed = frame[frame["protect_timed"]]
    throughput = (timed.groupby(["dataset", "method", "epsilon", "preset", "protect_device"],
                                sort=True)
                  .agg(timed_runs=("protect_s", "size"), protect_s=("protect_s", "mean"),
                       fit_s=("fit_s", "mean"), perturb_s=("perturb_s", "mean"),
                       volumes_per_s=("volumes_per_s", "mean"),
                       mvoxels_per_s=("mvoxels_per_s", "mean"))
                  .round(3).reset_index())
    return {"grid": _grid(frame), "efficacy": efficacy, "fidelity": fidelity,
            "throughput": throughput}


def _grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Protected-trained DSC, one row per method and budget, one column per victim (no
    defense, mean over seeds); each dataset's first row is the clean-trained reference, the
    mean over seeds of each seed's clean-trained victim (not over records, which would weight
    a seed by how many methods ran with it)."""
    plain = frame[frame["defense"] == "none"]
    per_seed = plain.groupby(["dataset", "preset", "victim", "seed"])["clean_dsc"].mean()
    reference = (per_seed.groupby(level=["dataset", "preset", "victim"]).mean()
                 .unstack("victim").assign(method=REFERENCE_ROW, epsilon="")
                 .reset_index())
    protected = (plain.groupby(["dataset", "preset", "method", "epsilon", "victim"])
                 ["protected_dsc"].mean().unstack("victim").reset_index())
    index = ["dataset", "preset", "method", "epsilon"]
    ordered = pd.concat([reference, protected.sort_values(index)], ignore_index=True)
    ordered = ordered.sort_values(["dataset", "preset"], kind="stable")
    return ordered[index + sorted(c for c in ordered.columns if c not in index)].round(3)


REFERENCE_ROW = "(clean-trained reference)"

HEADERS = {
    "grid": "Protected-trained DSC (mean over foreground classes, clean test split) of each "
            "victim, no defense, mean over seeds; the first row of each dataset is the "
            "clean-trained DSC every row is compared with (mean over seeds). Blank = not run "
            "yet.",
    "efficacy": "DSC = mean over foreground classes on the CLEAN test split, victim trained on "
                f"the protected training split. Empty-mask rule: {EMPTY_RULE}. "
                "drop = clean-trained minus protected-trained; mean ± std over seeds.",
    "fidelity": "Measured on the stored form of the released volumes (int8 for L-inf "
                "budgets, float32 for L0), mean over the training cases. PSNR (dB, data "
                "range 1; empty = infinite) and 3D SSIM (MONAI), whole volume and foreground "
                "ROI.",
    "throughput": "Seconds to protect the training split (fit + perturb of every case, with "
                  "the budget check and fidelity metrics), on the named device, mean over the "
                  "runs that timed it (runs that reused a cached protection are left out).",
}


def render(records_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``<table>.md`` and ``<table>.csv`` for each table; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables(load_records(records_dir)).items():
        md = out_dir / f"{name}.md"
        csv = out_dir / f"{name}.csv"
        text = (f"# uebench leaderboard: {name}\n\n{HEADERS[name]}\n\n"
                + table.astype(object).where(table.notna(), None)
                .to_markdown(index=False, floatfmt=".4g", missingval="") + "\n")
        md.write_text(text)
        csv.write_text(table.to_csv(index=False, float_format="%.6g"))
        written += [md, csv]
    return written
