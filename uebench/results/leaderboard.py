"""Leaderboards (Markdown + CSV) rendered from run records with pandas and tabulate.

Six tables, and up to three more when records hold them: grid (protected-trained DSC with
its interval, methods x victims, the view the headline numbers come from), curves (protected
DSC per budget with intervals, relative DSC and the matched-control test, per method x victim x
defense) and eps50 (methods ranked by the budget that halves the clean-trained DSC), efficacy
(clean-trained vs protected-trained on the clean test split), fidelity (measured on the stored
form) and throughput; defenses (each protected cell under each defense, beside what the defense
costs clean data), partial (the partial-protection curve: protected-trained DSC against the
share of protected training cases) and transfer (each protection's paired difference to
random-roi on every victim, when records hold several). The boards hold one
evaluation protocol (``records.PROTOCOL_VERSION``) and one kind of device (CPU or CUDA:
training numerics differ, so CPU and GPU records are boarded apart, never pooled). Each board
that flags cells below the matched control (↓) is one family of tests: its flags are by the
Benjamini-Hochberg q over the tests it shows (``curves.flag_below``). Rendering is deterministic
so a test can re-render the committed tables from the committed records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from uebench.results import records as rec
from uebench.results import stats
from uebench.results.curves import curve_table, eps50_table, family_size, flag_below, paired_test
from uebench.results.defense_board import BREAKS_RULE, defense_table
from uebench.results.partial_curve import partial_table
from uebench.results.records import (
    CELL,
    REFERENCE,
    Record,
    device_kind,
    protocol_of,
    single_device_kind,
    single_protocol,
)
from uebench.results.transfer_board import TRANSFER_SINCE, transfer_cells, transfer_table
from uebench.runner.evaluation import EMPTY_RULE

# The cell's fields as the boards' columns (the budget label is the column ``epsilon``), and
# the efficacy board's row order: the same fields, victim and method first.
BOARD_CELL = [*CELL[:5], "epsilon"]
EFFICACY_ORDER = ["dataset", "victim", "method", "epsilon", "defense", "preset"]


def admission_problems(record: Record, board: list[Record],
                       protocol: int, allow_dirty: bool = False,
                       new_dataset: bool = False) -> list[str]:
    """Why ``record`` may not join the boards rendered from ``board`` (the records already
    there): another protocol, another kind of device, a dataset / preset the boards do not
    show (unless ``new_dataset``), or code without provenance: no git commit, or uncommitted
    changes (unless ``allow_dirty``). Empty when it may."""
    problems = []
    if protocol_of(record) != protocol:
        problems.append(f"protocol {protocol_of(record)}, the boards hold protocol {protocol} "
                        "(re-run it)")
    if board and device_kind(record) != device_kind(board[0]):
        problems.append(f"trained on {device_kind(record)}, these boards hold "
                        f"{device_kind(board[0])} records (use a separate records folder)")
    shown = {(rec.dataset_label(r), r["spec"]["preset"]) for r in board}
    site = (rec.dataset_label(record), record["spec"]["preset"])
    if board and site not in shown and not new_dataset:
        problems.append(f"dataset {site[0]} at preset {site[1]} is not on these boards "
                        f"(they show {', '.join(sorted(f'{d}/{p}' for d, p in shown))}; "
                        "--new-dataset to start its rows)")
    environment = record.get("environment", {})
    if not environment.get("git_commit"):
        problems.append("no git commit: made outside a uebench checkout")
    elif environment.get("git_dirty") is not False and not allow_dirty:
        problems.append("made with uncommitted changes (git_dirty), or without that "
                        "provenance: commit and re-run, or --allow-dirty")
    return problems


def _row(record: Record) -> dict[str, Any]:
    eff, fid, thr = record["efficacy"], record["fidelity"], record["throughput"]
    cell = rec.cell(record)
    return {
        "dataset": cell.dataset, "victim": cell.victim, "method": cell.method,
        "epsilon": cell.budget, "defense": cell.defense,
        "preset": cell.preset, "seed": record["spec"]["seed"],
        "clean_dsc": eff["clean_trained"]["dsc_fg_mean"],
        "protected_dsc": eff["protected_trained"]["dsc_fg_mean"],
        "drop": eff["dsc_drop"]["dsc_fg_mean"],
        "protected_hd95_mm": eff["protected_trained"].get("hd95_fg_mean"),
        "protected_nsd": eff["protected_trained"].get("nsd_fg_mean"),
        "linf_x255": fid["linf"] * 255, "l2": fid["l2"],
        "psnr_whole": fid["psnr_whole"], "psnr_roi": fid.get("psnr_roi"),
        "ssim_whole": fid["ssim_whole"], "ssim_roi": fid.get("ssim_roi"),
        "protect_device": thr["protect"]["device"],
        "protect_s": thr["protect"]["wall_seconds"],
        "volumes_per_s": thr["protect"]["volumes_per_second"],
        "mvoxels_per_s": thr["protect"]["voxels_per_second"] / 1e6,
        "fit_s": thr["protect"]["fit_seconds"],
        "perturb_s": thr["protect"]["perturb_seconds"],
    }


def _mean_std(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(EFFICACY_ORDER, sort=True, dropna=False)
    out = grouped.size().rename("seeds").to_frame()
    for column in columns:
        mean, std = grouped[column].mean(), grouped[column].std(ddof=0)
        out[column] = [_pm(m, s) for m, s in zip(mean, std)]
    return out.reset_index()


def _pm(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.3f}" if pd.isna(std) or std == 0 else f"{mean:.3f} ± {std:.3f}"


class Board(NamedTuple):
    """One rendered board: its table and the header that says how to read it."""

    table: pd.DataFrame
    header: str


def tables(records: list[Record]) -> dict[str, pd.DataFrame]:
    """The grid, curves, eps50, efficacy, fidelity and throughput tables from ``records``
    (all of one protocol); ``boards`` with their headers."""
    return {name: board.table for name, board in boards(records).items()}


def curves_board_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of ``curve_table`` the curves board shows (its family of tests): the L-inf
    budgets of every method but the reference, under every defense."""
    return cells[cells["budget"].notna() & (cells["role"] != REFERENCE)]


def _epsilon(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with the budget label as the boards' column ``epsilon``."""
    return cells.rename(columns={"budget_label": "epsilon"})


def boards(records: list[Record]) -> dict[str, Board]:
    """Each board of ``records`` (all of one protocol) with its header: grid, curves, eps50,
    efficacy, fidelity and throughput, and defenses and partial when records hold them. The
    grid, curves, efficacy and partial boards flag their cells each over its own tests."""
    frame = pd.DataFrame([_row(r) for r in records])
    if frame.empty:
        return {}
    single_protocol(records)
    single_device_kind(records)
    curve_cells = curve_table(records)
    grid_cells = flag_below(curve_cells[curve_cells["defense"] == "none"])
    curves_cells = flag_below(curves_board_cells(curve_cells))
    efficacy_cells = flag_below(curve_cells)
    efficacy = _mean_std(frame, ["clean_dsc", "protected_dsc", "drop", "protected_hd95_mm",
                                 "protected_nsd"])
    efficacy = efficacy.merge(_cell_columns(_epsilon(efficacy_cells)), on=BOARD_CELL,
                              how="left")
    fidelity = (frame.groupby(["dataset", "method", "epsilon", "preset"], sort=True)
                [["linf_x255", "l2", "psnr_whole", "psnr_roi", "ssim_whole", "ssim_roi"]]
                .mean().round(4).reset_index())
    # each protection once: it is shared by every victim of the same method, budget and seed
    timed = frame.drop_duplicates(["dataset", "method", "epsilon", "preset", "seed",
                                   "protect_s"])
    throughput = (timed.groupby(["dataset", "method", "epsilon", "preset", "protect_device"],
                                sort=True)
                  .agg(timed_runs=("protect_s", "size"), protect_s=("protect_s", "mean"),
                       fit_s=("fit_s", "mean"), perturb_s=("perturb_s", "mean"),
                       volumes_per_s=("volumes_per_s", "mean"),
                       mvoxels_per_s=("mvoxels_per_s", "mean"))
                  .round(3).reset_index())
    out = {"grid": Board(_grid(_epsilon(grid_cells)), header("grid", grid_cells)),
           "curves": Board(_curves(_epsilon(curves_cells)), header("curves", curves_cells)),
           "eps50": Board(_eps50(records), header("eps50")),
           "efficacy": Board(efficacy, header("efficacy", efficacy_cells)),
           "fidelity": Board(fidelity, header("fidelity")),
           "throughput": Board(throughput, header("throughput"))}
    defended = _defenses(curve_cells)
    if not defended.empty:
        out["defenses"] = Board(defended, header("defenses"))
    partial_cells = flag_below(partial_table(curve_cells))
    if not partial_cells.empty:
        out["partial"] = Board(_partial(partial_cells), header("partial", partial_cells))
    crossed = (flag_below(transfer_cells(curve_cells))
               if protocol_of(records[0]) >= TRANSFER_SINCE else pd.DataFrame())
    if not crossed.empty:
        out["transfer"] = Board(transfer_table(crossed), header("transfer", crossed))
    return out


def interval_text(mean: float, low: float, high: float) -> str:
    """``0.812 [0.780, 0.840]``; ``—`` for a missing mean."""
    return "—" if pd.isna(mean) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def surrogate_mark(short_seeds: int) -> str:
    """`` †`` for a cell with a seed whose surrogate stopped below fit_dsc."""
    return f" {rec.SURROGATE_MARK}" if short_seeds else ""


def _cell_text(row: pd.Series) -> str:
    """``0.812 [0.780, 0.840]``, with `` ↓`` when below the matched control and `` †`` when
    a seed's surrogate stopped below fit_dsc."""
    mark = " ↓" if row["below_control"] else ""
    return (interval_text(row["dsc_mean"], row["dsc_lo"], row["dsc_hi"]) + mark
            + surrogate_mark(row["surrogate_short_seeds"]))


def _cell_columns(cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the protected DSC interval (with the surrogate mark) and the test against the
    matched control."""
    out = cells[BOARD_CELL].copy()
    out["protected_dsc_95ci"] = [interval_text(m, lo, hi) + surrogate_mark(short)
                                 for m, lo, hi, short in
                                 zip(cells["dsc_mean"], cells["dsc_lo"], cells["dsc_hi"],
                                     cells["surrogate_short_seeds"])]
    out["p_below_random_roi"] = cells["p_below_control"].round(4)
    out["q_below_random_roi"] = cells["q_below_control"].round(4)
    return out


def _curves(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per method x victim x defense, one column per L-inf budget: protected DSC
    [95 % interval], relative DSC, seeds, and ↓ when below the matched random-roi, from the
    flagged ``curves_board_cells``."""
    linf = cells.copy()
    linf["cell"] = linf.apply(lambda r: f"{_cell_text(r)} {r.relative:.0%} ({r.seeds}s)",
                              axis=1)
    order = (linf[["epsilon", "budget"]].drop_duplicates().sort_values("budget")["epsilon"]
             .tolist())
    wide = linf.pivot_table(index=CELL[:5], columns="epsilon", values="cell",
                            aggfunc="first").reset_index()
    return wide[CELL[:5] + order]


def _eps50(records: list[Record]) -> pd.DataFrame:
    table = eps50_table(records)
    if table.empty:
        return table
    return table[["dataset", "preset", "victim", "defense", "rank", "method", "eps50_label",
                  "psnr_roi_at_eps50", "dsc_at_largest", "clean_mean", "budgets"]].round(3)


def _defenses(cells: pd.DataFrame) -> pd.DataFrame:
    """The defense board of ``curve_table``'s cells with intervals as text; empty when no
    record met a defense."""
    table = defense_table(cells)
    if table.empty:
        return table

    def text(prefix: str) -> list[str]:
        return [interval_text(m, lo, hi) for m, lo, hi in
                zip(table[f"{prefix}_mean"], table[f"{prefix}_lo"], table[f"{prefix}_hi"])]

    protected = [value + surrogate_mark(short)
                 for value, short in zip(text("dsc"), table["surrogate_short_seeds"])]

    def verdict(values: pd.Series) -> list[str]:
        return ["" if v is None or pd.isna(v) else ("yes" if v else "no") for v in values]

    return pd.DataFrame({
        **{k: table[k] for k in ["dataset", "preset", "victim", "method", "epsilon", "defense",
                                 "seeds"]},
        "protected_dsc_95ci": protected, "clean_data_same_defense_95ci": text("clean_data"),
        "clean_trained_95ci": text("clean"), "breaks": verdict(table["breaks"]),
        "neutralises": verdict(table["neutralises"]),
    })


def _partial(curve: pd.DataFrame) -> pd.DataFrame:
    """The partial-protection curve (the flagged rows of ``partial_table``) with intervals as
    text."""
    return pd.DataFrame({
        "dataset": curve["dataset"], "preset": curve["preset"], "victim": curve["victim"],
        "method": curve["method"], "epsilon": curve["budget_label"],
        "protected_fraction": curve["fraction"], "seeds": curve["seeds"],
        "protected_dsc_95ci": [_cell_text(row) for _, row in curve.iterrows()],
        "minus_random_roi_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                                  zip(curve["diff_mean"], curve["diff_lo"], curve["diff_hi"])],
        "p_below_random_roi": curve["p_below_control"].round(4),
        "q_below_random_roi": curve["q_below_control"].round(4),
        "clean_trained_95ci": [interval_text(m, lo, hi) for m, lo, hi in
                               zip(curve["clean_mean"], curve["clean_lo"], curve["clean_hi"])],
    })


def _grid(cells: pd.DataFrame) -> pd.DataFrame:
    """Protected-trained DSC [95 % interval], one row per method and budget, one column per
    victim (no defense; ↓ = below the matched random-roi), from the flagged undefended cells;
    each dataset's first row is the clean-trained reference: over each seed's clean-trained
    victim, every seed once."""
    plain = cells.copy()
    index = ["dataset", "preset", "method", "epsilon"]
    plain["cell"] = plain.apply(_cell_text, axis=1)
    reference = (plain.drop_duplicates(["dataset", "preset", "victim"])
                 .assign(method=REFERENCE_ROW, epsilon="",
                         cell=lambda f: [interval_text(m, lo, hi) for m, lo, hi in
                                         zip(f.clean_mean, f.clean_lo, f.clean_hi)]))
    plain = plain.sort_values(["dataset", "preset", "method", "budget"])
    ordered = pd.concat([reference, plain], ignore_index=True)
    wide = ordered.pivot_table(index=index, columns="victim", values="cell", aggfunc="first",
                               sort=False).reset_index()
    return wide.sort_values(["dataset", "preset"], kind="stable")


REFERENCE_ROW = "(clean-trained reference)"

INTERVALS = ("[a, b] = 95 % hierarchical bootstrap interval (seeds, then test cases, "
             f"{stats.RESAMPLES} resamples) of the mean over seeds of the per-case foreground-"
             f"mean DSC. {rec.SURROGATE_MARK_TEXT}")
BELOW_CONTROL = ("the matched random-roi control (same dataset, victim, budget, preset, "
                 "defense)")
TESTS = "{tests}"
"""Where a header says its ↓ (``stats.fdr_sentence`` over the board's tests)."""

HEADERS = {
    "grid": "Protected-trained DSC (mean over foreground classes, clean test split) of each "
            "victim, no defense; the first row of each dataset is the clean-trained DSC every "
            f"row is compared with (every seed's clean-trained victim once). {INTERVALS} "
            f"{TESTS} Blank = not run yet.",
    "curves": "The budget-efficacy curves: for each method x victim x defense, the "
              "protected-trained DSC at each L-inf budget, then the relative DSC (protected / "
              f"clean-trained) and the number of seeds. {INTERVALS} {TESTS} Blank = not run "
              "yet.",
    "eps50": "eps@50: the smallest budget at which the protected-trained DSC (mean over seeds) "
             "falls to half the clean-trained DSC, linear in log2(eps) between the two "
             "measured budgets that bracket it; '> largest' when it never does, '< smallest' "
             "when it already does at the smallest. [a, b] = 95 % interval of the same rule "
             "over joint hierarchical bootstrap draws of every budget's and the clean-trained "
             "mean. Ranked within each victim and defense (lower = stronger; ties by the DSC "
             "at the largest budget). psnr_roi_at_eps50: ROI PSNR (dB) interpolated at eps@50.",
    "defenses": "Each protected cell trained under each defense (undefended first): "
                "protected_dsc_95ci = the victim trained on the protected split under the "
                "defense; clean_data_same_defense_95ci = a victim trained on clean data under "
                "the same defense (what the defense costs by itself); clean_trained_95ci = the "
                f"undefended clean-trained victim. {BREAKS_RULE}. {INTERVALS}",
    "partial": "The partial-protection curve: only a seeded share protected_fraction of the "
               "training cases is protected, the rest are trained on clean (the defense "
               "partial:fraction=F; 1 = the undefended run, every case protected). "
               "minus_random_roi_95ci = the paired difference to random-roi at the same "
               f"fraction (protected minus control). {INTERVALS} {TESTS} "
               "p_below_random_roi: that test's p-value; q_below_random_roi: its q.",
    "efficacy": "DSC = mean over foreground classes on the CLEAN test split, victim trained on "
                f"the protected training split. Empty-mask rule: {EMPTY_RULE}. "
                "drop = clean-trained minus protected-trained; mean ± std over seeds; "
                "protected_nsd: surface Dice (MONAI SurfaceDiceMetric, tolerance in the "
                f"records). {INTERVALS} {TESTS} p_below_random_roi: that test's p-value "
                f"(blank when fewer than {stats.MIN_SEEDS} shared seeds); q_below_random_roi: "
                "its q.",
    "transfer": "The transfer matrix: each protection (made once, with its own surrogate) "
                "trained on by every victim, no defense; a cell = the paired difference of "
                "the protected-trained DSC to the matched random-roi control on that victim "
                "(protected minus control, per seed and test case, over the seeds both have; "
                "negative = the protection lowers that victim's DSC more than random noise in "
                "the same ROI) with its 95 % interval (the test's, below; the point alone with "
                f"fewer than {stats.MIN_SEEDS} shared seeds); seeds = the fewest seeds of the "
                f"row's cells. {TESTS} Blank = not run yet, or no random-roi on that victim.",
    "fidelity": "Measured on the stored form of the released volumes (int8 for L-inf "
                "budgets, float32 for L0), mean over the training cases. PSNR (dB, data "
                "range 1; empty = infinite) and 3D SSIM (MONAI), whole volume and foreground "
                "ROI.",
    "throughput": "Seconds to protect the training split (fit + perturb of every case, with "
                  "the budget check and fidelity metrics), on the named device, mean over the "
                  "distinct protections (one protection serves every victim of its method, "
                  "budget and seed).",
}


SHOWS_P = ("efficacy", "partial")
"""The boards that show each test's p and q beside the flag."""


def header(name: str, cells: pd.DataFrame | None = None) -> str:
    """Board ``name``'s header; for a board that flags cells, ``cells`` are the flagged cells
    it shows, whose tests its ↓ sentence counts."""
    text = HEADERS[name]
    if TESTS not in text:
        return text
    return text.replace(TESTS, stats.fdr_sentence(BELOW_CONTROL, family_size(cells),
                                                  name in SHOWS_P, paired_test(cells)))


DEVICE_TEXT = {"cpu": "victims trained on CPU", "cuda": "victims trained on a CUDA GPU"}


def write_board(name: str, table: pd.DataFrame, records: list[Record], header: str,
                out_dir: Path) -> list[Path]:
    """Write ``<name>.md`` (title, protocol, kind of device, ``header``, the table) and
    ``<name>.csv`` into ``out_dir``; returns their paths."""
    md, csv = out_dir / f"{name}.md", out_dir / f"{name}.csv"
    md.write_text(f"# uebench leaderboard: {name}\n\nProtocol {single_protocol(records)}, "
                  f"{DEVICE_TEXT[single_device_kind(records)]}. {header}\n\n"
                  + table.astype(object).where(table.notna(), None)
                  .to_markdown(index=False, floatfmt=".4g", missingval="") + "\n")
    csv.write_text(table.to_csv(index=False, float_format="%.6g"))
    return [md, csv]


def render(records_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``<table>.md`` and ``<table>.csv`` for each table; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = rec.load_records(records_dir)
    return [path for name, board in boards(records).items()
            for path in write_board(name, board.table, records, board.header, out_dir)]
