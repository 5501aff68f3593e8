"""A static HTML report (figures + one ``index.html``) rendered from a folder of run records.

The page shows, from the records and (for the last two figures) the stage cache:

a) protected-trained DSC against the budget, one panel per victim, one line per method with its
   95 % interval band, the controls drawn distinctly and the clean-trained reference as a band;
b) efficacy against fidelity: protected-trained DSC against the ROI PSNR, one point per method
   and budget;
c) one example run: axial and coronal slices of a clean training volume, its protected version
   and the (amplified) delta;
d) the amplitude spectrum of the deltas along z (the axial slice axis), one line per method.

Every number and interval comes from :func:`uebench.results.curves.curve_table`; this module
only draws. The volumes of (c) and (d) are read back exactly as the pipeline made them: the
clean case from the dataset cache and the stored delta from the protection stage of the stage
cache (same key, :func:`uebench.runner.stages.protection_key`). A record whose protection is
not in the cache is NOT recomputed (for a trained method that would be a full ``fit``, minutes
to hours): its panel says "not available" instead.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state);
the page links them by relative names and needs neither JavaScript nor a network.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from uebench.contracts.budget import Budget, L0Budget, LinfBudget, storage_scale
from uebench.results.defense_board import BREAKS_RULE, defense_table
from uebench.results.leaderboard import epsilon_label, load_records, method_label
from uebench.runner.defense_chain import NONE
from uebench.runner.store import StageCache, default_cache_root

CONTROLS = ("random", "random-roi")
"""Methods drawn as controls (grey/black, dashed/dotted, hollow markers)."""
CONTROL_STYLES = {
    "random": {"color": "0.5", "linestyle": "--", "marker": "s", "markerfacecolor": "white"},
    "random-roi": {"color": "black", "linestyle": ":", "marker": "D", "markerfacecolor": "white"},
}
SKIPPED_METHODS = ("clean",)
"""Not drawn as a line: the clean-trained reference band already shows it."""
DPI = 110


class ReportError(ValueError):
    """Bad input for a report: no records, an unreadable record, an unknown ``--example``."""


@dataclass
class Section:
    """One part of the page: a heading, a caption, images (names relative to the page)."""

    title: str
    caption: str
    images: list[str] = field(default_factory=list)
    table_html: str = ""


# --------------------------------------------------------------------------------- records


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The records of ``folder``; ``ReportError`` when it is missing, empty or unreadable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"records folder {folder} does not exist")
    try:
        records = load_records(folder)
    except (ValueError, OSError) as error:  # json.JSONDecodeError is a ValueError
        raise ReportError(f"cannot read the records in {folder}: {error}") from None
    if not records:
        raise ReportError(f"no records (*.json) in {folder}")
    return records


def record_label(record: dict[str, Any]) -> str:
    """The method label the tables use (``voxshield`` or ``voxshield[epochs=30]``)."""
    spec = record["spec"]
    return method_label(spec["method"], spec.get("method_params") or {})


def record_norm(record: dict[str, Any]) -> str:
    """``linf`` or ``l0``: the norm the run's budget is stated in."""
    method = record["method"]
    return method.get("budget", {}).get("norm") or method.get("norm", "linf")


def record_budget(record: dict[str, Any]) -> Budget:
    """The run's budget object, as the pipeline built it (int8 L-inf or float32 L0)."""
    budget = record["method"].get("budget", {})
    if record_norm(record) == "l0":
        return L0Budget(float(budget["max_fraction"]))
    return LinfBudget(float(record["spec"]["epsilon"]))


def base_method(label: str) -> str:
    """``voxshield[epochs=30]`` -> ``voxshield``."""
    return label.split("[", 1)[0]


def is_control(label: str) -> bool:
    return base_method(label) in CONTROLS


def pick_example(records: list[dict[str, Any]], run_id: str | None = None) -> dict[str, Any]:
    """The record with ``run_id``, or by default the voxshield run with the largest L-inf
    budget (no defense, lowest seed); without voxshield, the non-control method with the largest
    budget; failing that, any record."""
    if run_id is not None:
        by_id = {r["run_id"]: r for r in records}
        if run_id not in by_id:
            close = difflib.get_close_matches(run_id, list(by_id), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ReportError(f"--example {run_id!r}: no record with that run id{hint}")
        return by_id[run_id]

    def rank(record: dict[str, Any]) -> tuple:
        spec = record["spec"]
        return (record_norm(record) == "linf", spec["defense"] == "none",
                spec["method"] not in SKIPPED_METHODS, spec["method"] == "voxshield",
                not spec.get("method_params"), not is_control(spec["method"]),
                spec["epsilon"], -spec["seed"], record["run_id"])

    return max(records, key=rank)


# ------------------------------------------------------------------------------ cache access


def cached_deltas(record: dict[str, Any], cache_root: Path
                  ) -> tuple[dict[str, np.ndarray] | None, str]:
    """The stored deltas of the record's protection stage, read from ``cache_root`` under the
    pipeline's key, and a reason when there are none (the record's plugins do not resolve here,
    or the stage is not in the cache)."""
    from uebench.runner.data import fingerprint
    from uebench.runner.pipeline import RunSpec, resolve
    from uebench.runner.stages import protection_key

    try:
        spec = RunSpec(**record["spec"])
        resolved = resolve(spec)
        key = protection_key(fingerprint(resolved.dataset, resolved.preset), resolved.method,
                             spec.seed, resolved.preset)
    except (KeyError, TypeError, ValueError, OSError) as error:
        return None, f"the run cannot be resolved here ({error})"
    arrays = StageCache(cache_root).get_arrays("protect", key)
    if arrays is None:
        return None, f"no cached protection for {record['run_id']} in {cache_root}"
    return arrays, ""


def clean_cases(record: dict[str, Any], cache_root: Path) -> dict[str, Any]:
    """The record's dataset cases by id, from ``cache_root`` when the run kept its data there,
    else from the shared dataset cache (``$UEBENCH_CACHE``), generating them as the pipeline
    does when neither has them."""
    from uebench.contracts.presets import get_preset
    from uebench.runner.data import fingerprint, load_cases, resolve_dataset

    dataset = resolve_dataset(record["spec"]["dataset"])
    preset = get_preset(record["spec"]["preset"])
    local = StageCache(cache_root)
    has_local = local.get_arrays("datasets", fingerprint(dataset, preset)) is not None
    cases = load_cases(dataset, preset, local if has_local else StageCache(default_cache_root()))
    return {"dataset": dataset, "cases": {c.id: c for c in cases}}


def z_spectrum(delta: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean amplitude of the FFT of ``delta [C, D, H, W]`` along z (axis D), per z-frequency,
    and the share of its energy in the upper half of the z-frequencies (0.5 for white noise;
    ``benchmarks/delta_spectrum.py`` reports it too)."""
    spectrum = np.fft.rfft(delta.astype(np.float64), axis=1)
    power = np.abs(spectrum) ** 2
    half = power.shape[1] // 2
    share = float(power[:, half:].sum() / max(power.sum(), 1e-20))
    return np.abs(spectrum).mean(axis=(0, 2, 3)), share


def zdiv_per_l2(delta: np.ndarray) -> float:
    """VoxShield's inter-slice term ``zdiv`` divided by ``||delta||_2`` (scale-free)."""
    import torch

    from uebench.methods.voxshield import zdiv

    tensor = torch.from_numpy(delta.astype(np.float32))[None]
    return float(zdiv(tensor)) / max(float(tensor.norm()), 1e-12)


def released_delta(record: dict[str, Any], image: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """``release(image, stored) - image``: the delta as the victim saw it (clamped, checked)."""
    return record_budget(record).release(image, stored, record["run_id"]) - image


# --------------------------------------------------------------------------------- drawing


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out: Path, name: str) -> str:
    figure.savefig(out / name, format="png")
    return name


def slug(*parts: str) -> str:
    """A safe file-name stem from ``parts``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("_")


def method_styles(labels: list[str]) -> dict[str, dict[str, Any]]:
    """A fixed line style per method label: controls grey/black and hollow, the others in
    colour, the same in every figure of the page."""
    import matplotlib

    others = sorted(label for label in set(labels) if not is_control(label))
    colours = matplotlib.colormaps["tab10"].colors
    markers, lines = "o^vsp<>h*", ["-", "-.", (0, (5, 1, 1, 1, 1, 1))]
    styles = {label: {"color": colours[i % 10], "linestyle": lines[(i // 10) % 3],
                      "marker": markers[(i // 10) % len(markers)] if i >= 10 else "o"}
              for i, label in enumerate(others)}
    for label in set(labels) - set(others):
        styles[label] = dict(CONTROL_STYLES[base_method(label)])
    return styles


def _grid(n: int, ncols: int = 3) -> tuple[int, int]:
    cols = max(1, min(n, ncols))
    return -(-n // cols), cols


def _legend_order(labels: list[str]) -> list[str]:
    return sorted(labels, key=lambda label: (is_control(label), label))


def text_panel(out: Path, name: str, message: str) -> str:
    """A small PNG that says ``message``: the panel drawn where a figure has no data."""
    figure = _new_figure(6, 1.2)
    figure.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)
    return _save(figure, out, name)


def _shared_legend(figure: Figure, axes) -> None:
    """One legend for all panels, outside on the right (each label once)."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    order = sorted(entries, key=lambda label: (not label.startswith("clean-trained"),
                                               is_control(label), label))
    figure.legend([entries[label] for label in order], order, loc="outside center right",
                  fontsize=8)


def _yerr(rows: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above the mean (0 where an interval end is missing)."""
    below = (rows["dsc_mean"] - rows["dsc_lo"]).to_numpy(float)
    above = (rows["dsc_hi"] - rows["dsc_mean"]).to_numpy(float)
    return np.nan_to_num(np.clip(np.stack([below, above]), 0, None))


def _reference(rows: pd.DataFrame) -> pd.Series:
    """The clean-trained reference of a victim: the row backed by the most seeds."""
    return rows.sort_values(["seeds", "budget"], ascending=[False, True]).iloc[0]


def curves_figure(table: pd.DataFrame, styles: dict, out: Path, name: str, title: str) -> str:
    """(a) Protected-trained DSC against the L-inf budget (log2 axis), one panel per victim."""
    victims = sorted(table["victim"].unique())
    nrows, ncols = _grid(len(victims))
    figure = _new_figure(4.4 * ncols + 2.6, 3.6 * nrows + 0.6)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, victim in zip(axes, victims):
        rows = table[table["victim"] == victim]
        ref = _reference(rows)
        ax.axhspan(ref["clean_lo"], ref["clean_hi"], color="tab:green", alpha=0.15, lw=0)
        ax.axhline(ref["clean_mean"], color="tab:green", lw=1.2,
                   label="clean-trained reference (95 % band)")
        for label in _legend_order(list(rows["method"].unique())):
            line = rows[rows["method"] == label].sort_values("budget")
            style = styles[label]
            x = line["budget"].to_numpy(float)
            ax.plot(x, line["dsc_mean"], label=label, lw=1.6, ms=5,
                    zorder=3 if is_control(label) else 2, **style)
            if len(line) > 1:
                ax.fill_between(x, line["dsc_lo"], line["dsc_hi"], color=style["color"],
                                alpha=0.12, lw=0)
            else:
                ax.errorbar(x, line["dsc_mean"], yerr=_yerr(line), color=style["color"],
                            fmt="none", capsize=3)
        ticks = rows.drop_duplicates("budget").sort_values("budget")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks["budget"].to_numpy(float), ticks["budget_label"].tolist())
        ax.minorticks_off()
        if len(ticks) == 1:
            ax.set_xlim(ticks["budget"].iloc[0] / 1.5, ticks["budget"].iloc[0] * 1.5)
        _dsc_panel(ax, victim, ref, "budget eps (L-inf, log2 axis)")
    return _finish(figure, axes, len(victims), title, out, name)


def psnr_figure(table: pd.DataFrame, styles: dict, out: Path, name: str, title: str) -> str:
    """(b) Protected-trained DSC against ROI PSNR, one point per method and budget."""
    victims = sorted(table["victim"].unique())
    nrows, ncols = _grid(len(victims))
    figure = _new_figure(4.4 * ncols + 2.6, 3.6 * nrows + 0.6)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, victim in zip(axes, victims):
        rows = table[(table["victim"] == victim) & table["psnr_roi"].notna()]
        ref = _reference(table[table["victim"] == victim])
        ax.axhspan(ref["clean_lo"], ref["clean_hi"], color="tab:green", alpha=0.15, lw=0)
        ax.axhline(ref["clean_mean"], color="tab:green", lw=1.2,
                   label="clean-trained reference (95 % band)")
        for label in _legend_order(list(rows["method"].unique())):
            points = rows[rows["method"] == label]
            style = styles[label]
            ax.errorbar(points["psnr_roi"], points["dsc_mean"],
                        yerr=_yerr(points),
                        color=style["color"], marker=style["marker"],
                        markerfacecolor=style.get("markerfacecolor", style["color"]),
                        linestyle="none", capsize=2, ms=5, label=label)
            for _, point in points.iterrows():
                ax.annotate(point["budget_label"], (point["psnr_roi"], point["dsc_mean"]),
                            textcoords="offset points", xytext=(4, 3), fontsize=6,
                            color=style["color"])
        _dsc_panel(ax, victim, ref, "ROI PSNR (dB; higher = less visible)")
    return _finish(figure, axes, len(victims), title, out, name)


def _dsc_panel(ax, victim: str, ref: pd.Series, xlabel: str) -> None:
    """Axes of a protected-DSC panel of one victim."""
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{victim} (clean-trained {ref['clean_mean']:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("protected-trained DSC (fg mean)")
    ax.grid(alpha=0.3)


def _finish(figure: Figure, axes, used: int, title: str, out: Path, name: str) -> str:
    """Hide unused panels, add the shared legend and title, save."""
    for ax in axes[used:]:
        ax.set_visible(False)
    _shared_legend(figure, axes[:used])
    figure.suptitle(title)
    return _save(figure, out, name)


def _focus(label: np.ndarray) -> tuple[int, int]:
    """Axial (z) and coronal (y) indices through the foreground centroid (centre if none)."""
    points = np.argwhere(label > 0)
    centre = points.mean(axis=0) if len(points) else np.array(label.shape) / 2
    return int(centre[0]), int(centre[1])


def example_figure(record: dict[str, Any], cache_root: Path, out: Path, name: str
                   ) -> tuple[str, str]:
    """(c) Axial and coronal slices of a clean training volume, its protected form and the
    amplified delta; a text panel when the run's protection is not in the cache. Returns the
    image's name and a note ("" or the "not available" message)."""
    stored, reason = cached_deltas(record, cache_root)
    if stored is None:
        note = f"not available ({reason})"
        return text_panel(out, name, note), note
    data = clean_cases(record, cache_root)
    case_id = next((cid for cid in sorted(stored) if cid in data["cases"]), None)
    if case_id is None:
        note = (f"not available (the cached deltas of {record['run_id']} name no case of the "
                "dataset)")
        return text_panel(out, name, note), note
    case = data["cases"][case_id]
    delta = released_delta(record, case.image, stored[case_id])
    protected = case.image + delta
    channel = int(np.abs(delta).reshape(len(delta), -1).max(axis=1).argmax())
    names = list(getattr(data["dataset"], "modalities", ()) or ())
    channel_name = names[channel] if channel < len(names) else f"channel {channel}"
    z, y = _focus(case.label)
    if record_norm(record) == "linf":
        vmax = float(record["spec"]["epsilon"])
        tick = epsilon_label(vmax)
        range_label = f"±eps = ±{tick}"
    else:
        vmax = max(float(np.abs(delta).max()), 1e-6)
        tick = f"{vmax:.3g}"
        range_label = f"±{tick} (L0 budget: sparse, large values)"
    gain = 1.0 / (2 * vmax)  # the image's [0, 1] and the delta's [-vmax, vmax] fill one scale
    figure = _new_figure(10, 7)
    axes = figure.subplots(2, 3)
    views = [("axial", f"z = {z}", lambda v: v[z]), ("coronal", f"y = {y}", lambda v: v[:, y])]
    for row, (view, where, cut) in enumerate(views):
        for col, (volume, what) in enumerate([(case.image, "clean"),
                                              (protected, "protected"), (delta, "delta")]):
            ax = axes[row, col]
            if what == "delta":
                shown = ax.imshow(cut(volume[channel]), cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                                  origin="lower", interpolation="nearest")
            else:
                ax.imshow(cut(volume[channel]), cmap="gray", vmin=0, vmax=1, origin="lower",
                          interpolation="nearest")
            ax.set_title(f"{what}, {view} ({where})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        bar = figure.colorbar(shown, ax=axes[row, 2], fraction=0.046, pad=0.04)
        bar.set_ticks([-vmax, 0, vmax], labels=[f"-{tick}", "0", f"+{tick}"])
        bar.ax.tick_params(labelsize=7)
    figure.suptitle(f"{record['run_id']}: {record_label(record)} at "
                    f"{_budget_text(record)}, case {case_id}, {channel_name}")
    figure.supxlabel(f"delta x {gain:.1f}: colour range {range_label} "
                     "(clean and protected: grey range [0, 1])", fontsize=10)
    return _save(figure, out, name), ""


def _budget_text(record: dict[str, Any]) -> str:
    budget = record["method"].get("budget", {})
    if record_norm(record) == "l0":
        return f"L0 {float(budget['max_fraction']):.2%}"
    return epsilon_label(float(record["spec"]["epsilon"]))


def spectrum_runs(records: list[dict[str, Any]], example: dict[str, Any]) -> list[dict]:
    """Per method label, the candidate L-inf runs on the example's dataset and preset, largest
    budget first then lowest seed (a delta does not depend on the victim or the defense)."""
    spec = example["spec"]
    chosen: dict[str, list[dict]] = {}
    for record in records:
        other = record["spec"]
        if (other["dataset"], other["preset"]) != (spec["dataset"], spec["preset"]):
            continue
        if record_norm(record) != "linf" or other["method"] in SKIPPED_METHODS:
            continue
        chosen.setdefault(record_label(record), []).append(record)
    return [sorted(runs, key=lambda r: (-r["spec"]["epsilon"], r["spec"]["seed"],
                                        r["run_id"]))
            for _, runs in sorted(chosen.items())]


def spectrum_figure(records: list[dict[str, Any]], example: dict[str, Any], styles: dict,
                    cache_root: Path, out: Path, name: str) -> tuple[str, pd.DataFrame]:
    """(d) Mean z-amplitude spectrum of the stored deltas per method (in units of eps), at the
    largest budget whose protection is cached; plus a table of the spectral summaries. The
    deltas are the stored int8 levels times the storage scale, as in
    ``benchmarks/delta_spectrum.py`` (no clean volume needed)."""
    rows, curves = [], []
    for runs in spectrum_runs(records, example):
        for record in runs:
            stored, _ = cached_deltas(record, cache_root)
            if stored is None:
                continue
            eps = float(record["spec"]["epsilon"])
            amplitudes, shares, zdivs = [], [], []
            for case_id in sorted(stored):
                delta = stored[case_id].astype(np.float32) * np.float32(storage_scale(eps))
                amplitude, share = z_spectrum(delta)
                amplitudes.append(amplitude / eps)
                shares.append(share)
                zdivs.append(zdiv_per_l2(delta))
            label = record_label(record)
            curves.append((label, record, np.mean(amplitudes, axis=0)))
            rows.append({"method": label, "budget": epsilon_label(eps),
                         "seed": record["spec"]["seed"], "cases": len(stored),
                         "high_z_energy_share": round(float(np.mean(shares)), 4),
                         "zdiv_per_l2": round(float(np.mean(zdivs)), 4),
                         "run": record["run_id"]})
            break
    if not curves:
        spec = example["spec"]
        return text_panel(out, name, "not available (no cached protection in "
                                     f"{cache_root} for {spec['dataset']} / "
                                     f"{spec['preset']})"), pd.DataFrame(rows)
    figure = _new_figure(7, 4.2)
    ax = figure.subplots()
    for label, record, amplitude in sorted(curves, key=lambda c: (is_control(c[0]), c[0])):
        frequencies = np.fft.rfftfreq(2 * (len(amplitude) - 1))
        style = dict(styles.get(label, {"color": "tab:blue", "linestyle": "-"}))
        style.pop("marker", None)
        style.pop("markerfacecolor", None)
        ax.plot(frequencies, amplitude, lw=1.5,
                label=f"{label} ({epsilon_label(record['spec']['epsilon'])})", **style)
    ax.set_yscale("log")
    _readable_log_ticks(ax)
    ax.set_xlabel("z frequency (cycles per voxel; 0.5 = alternating slices)")
    ax.set_ylabel("mean |FFT_z(delta)| / eps")
    ax.set_title(f"z amplitude spectrum of the stored deltas ({example['spec']['dataset']}, "
                 f"{example['spec']['preset']})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(figure, out, name), pd.DataFrame(rows)


def defenses_figure(board: pd.DataFrame, styles: dict, out: Path, name: str, title: str
                    ) -> str:
    """(e) Protected-trained DSC under each defense (one row of bars per defense, one bar per
    method, 95 % intervals), the clean-data bar of the same defense (grey, green edge) and the
    undefended clean-trained band, one panel per victim and budget."""
    panels = list(board.groupby(["victim", "epsilon"], sort=True))
    nrows, ncols = _grid(len(panels), ncols=2)
    defenses = list(dict.fromkeys(board["defense"]))
    figure = _new_figure(6.2 * ncols + 2.4, 0.42 * len(defenses) * nrows + 1.6)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, ((victim, epsilon), rows) in zip(axes, panels):
        methods = [m for m in rows["method"].unique() if m != "clean"]
        methods = ["clean", *_legend_order(methods)]
        ref = rows.iloc[0]
        ax.axvspan(ref["clean_lo"], ref["clean_hi"], color="tab:green", alpha=0.15, lw=0,
                   label="clean-trained, no defense (95 % band)")
        height = 0.8 / len(methods)
        for offset, method in enumerate(methods):
            bars = rows[rows["method"] == method].set_index("defense").reindex(defenses)
            y = np.arange(len(defenses)) + (offset - (len(methods) - 1) / 2) * height
            colour = "0.8" if method == "clean" else styles[method]["color"]
            err = np.nan_to_num(np.clip(np.stack([bars["dsc_mean"] - bars["dsc_lo"],
                                                  bars["dsc_hi"] - bars["dsc_mean"]]), 0, None))
            ax.barh(y, bars["dsc_mean"], height=height, color=colour, xerr=err,
                    error_kw={"lw": 0.8, "capsize": 1.5},
                    label="clean data under the defense" if method == "clean" else method,
                    hatch="//" if is_control(method) else None,
                    edgecolor="tab:green" if method == "clean" else None)
        ax.set_yticks(np.arange(len(defenses)), defenses)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("DSC (fg mean, clean test split)")
        ax.set_title(f"{victim}, {epsilon}", fontsize=10)
    return _finish(figure, axes, len(panels), title, out, name)


def _readable_log_ticks(ax) -> None:
    """Plain ``%.3g`` labels on a log y axis; minor ticks labelled only within one decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if high / max(low, 1e-30) < 10 else NullFormatter())


# ----------------------------------------------------------------------------------- page


def curve_sections(records: list[dict[str, Any]], table: pd.DataFrame, out: Path,
                   styles: dict) -> list[Section]:
    """Sections (a) and (b), one figure pair per (dataset, preset, defense)."""
    l0_labels = {record_label(r) for r in records if record_norm(r) == "l0"}
    linf = table[table["budget"].notna() & ~table["method"].isin(l0_labels)
                 & ~table["budget_label"].astype(str).str.startswith("L0")
                 & ~table["method"].map(base_method).isin(SKIPPED_METHODS)]
    drawn = table[~table["method"].map(base_method).isin(SKIPPED_METHODS)]
    curves, scatter = [], []
    groups = drawn.groupby(["dataset", "preset", "defense"], sort=True)
    for (dataset, preset, defense), rows in groups:
        title = f"{dataset}, preset {preset}, defense {defense}"
        stem = slug(dataset, preset, defense)
        curve_rows = linf[(linf["dataset"] == dataset) & (linf["preset"] == preset)
                          & (linf["defense"] == defense)]
        if defense != NONE and curve_rows["budget"].nunique() < 2:
            continue  # one budget under a defense: the defense board shows it
        if not curve_rows.empty:
            curves.append(curves_figure(curve_rows, styles, out, f"curves-{stem}.png", title))
        scatter.append(psnr_figure(rows, styles, out, f"psnr-{stem}.png", title))
    l0_note = (f" L0-bounded methods ({', '.join(sorted(l0_labels))}) have no eps and are "
               "left out here; they appear in (b)." if l0_labels else "")
    return [
        Section("a) Protected-trained DSC against the budget",
                "Foreground-mean DSC on the clean test split of each victim trained on the "
                "protected training split, against the L-inf budget (log2 axis); lines = mean "
                "over seeds, bands = 95 % hierarchical bootstrap interval (seeds, then test "
                "cases). Controls: random (grey, dashed) and random-roi (black, dotted), hollow "
                "markers. Green band: the clean-trained reference of the same victim (mean and "
                "95 % interval). A protection works where its line falls well below both the "
                "green band and the controls." + l0_note, curves),
        Section("b) Efficacy against visibility",
                "Protected-trained DSC (mean, 95 % interval) against the PSNR inside the "
                "foreground ROI (measured on the stored form), one point per method and budget "
                "(labelled). Lower-right is better for a protection: effective and hard to see.",
                scatter),
    ]


def defense_sections(table: pd.DataFrame, out: Path, styles: dict) -> list[Section]:
    """Section (e), the defense board of ``curve_table``'s cells as a figure, when any record
    met a defense."""
    board = defense_table(table)
    if board.empty:
        return []
    images = [defenses_figure(rows, styles, out, f"defenses-{slug(dataset, preset)}.png",
                              f"{dataset}, preset {preset}")
              for (dataset, preset), rows in board.groupby(["dataset", "preset"], sort=True)]
    return [Section(
        "e) Protections under defenses",
        "Protected-trained DSC of each method trained under each defense (bars: mean over "
        "seeds, whiskers: 95 % hierarchical bootstrap interval; controls hatched), beside a "
        "victim trained on clean data under the same defense (grey bar, green edge: what the "
        "defense costs by itself) and the undefended clean-trained band (green). A protection "
        "survives a defense when its bar stays well left of the grey bar and the band. "
        f"{BREAKS_RULE}.",
        images, _table_html(board.round(4)))]


def build_report(records_dir: Path, out: Path, cache_root: Path | None = None,
                 example_id: str | None = None) -> Path:
    """Render every figure and ``index.html`` into ``out``; returns the page's path.

    ``cache_root`` defaults to ``records_dir/../cache`` (the layout ``uebench run --out``
    writes). Raises ``ReportError`` for a missing or empty records folder or an unknown
    ``example_id``.
    """
    from uebench.results.curves import curve_table

    records_dir = Path(records_dir)
    records = read_records(records_dir)
    cache_root = Path(cache_root) if cache_root is not None else records_dir.parent / "cache"
    example = pick_example(records, example_id)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = curve_table(records)
    styles = method_styles(list(table["method"].unique()) + [record_label(r) for r in records])
    sections = curve_sections(records, table, out, styles)
    example_png, example_note = example_figure(example, cache_root, out,
                                               f"example-{slug(example['run_id'])}.png")
    sections.append(Section(
        "c) One protected volume",
        (f"{example_note[:1].upper()}{example_note[1:]}. " if example_note else "")
        + f"Run {example['run_id']}: a training case of the released set as the victim saw it "
        "(clean + stored delta, clamped to [0, 1]), axial and coronal slices through the "
        "foreground centroid, in the channel where the delta is largest. The delta's colour "
        "scale is written under the figure. Read from the stage cache (" + str(cache_root)
        + "); nothing is recomputed.", [example_png]))
    spectrum_png, spectrum_table = spectrum_figure(records, example, styles, cache_root, out,
                                                   "spectrum.png")
    missing = (f"Not available (no cached protection in {cache_root} for "
               f"{example['spec']['dataset']} / {example['spec']['preset']}). "
               if spectrum_table.empty else "")
    sections.append(Section(
        "d) z-direction amplitude spectrum of the deltas",
        missing + "Mean amplitude of the FFT along z (the axial slice axis) of each method's "
        "stored deltas over the training cases, channels and in-plane positions, divided by "
        "eps, at the largest budget whose protection is in the cache. Flat = white noise along z; "
        "mass at high frequencies = noise that changes from slice to slice (VoxShield's "
        "inter-slice term). Table: high_z_energy_share (0.5 for white noise) and "
        "zdiv / ||delta||_2, as benchmarks/delta_spectrum.py defines them.",
        [spectrum_png], _table_html(spectrum_table)))
    sections += defense_sections(table, out, styles)
    sections.append(Section("The numbers behind the curves",
                            "uebench.results.curves.curve_table of the records, as drawn above.",
                            [], _table_html(table)))
    page = out / "index.html"
    page.write_text(render_page(sections, records_dir, len(records)))
    remove_stale(out, {image for section in sections for image in section.images})
    return page


def remove_stale(out: Path, keep: set[str]) -> None:
    """Delete figures of an earlier render (our own name patterns only) that the page no
    longer links, so a committed report folder holds exactly what its page shows."""
    for pattern in ("curves-*.png", "psnr-*.png", "example-*.png", "spectrum.png",
                    "defenses-*.png"):
        for path in out.glob(pattern):
            if path.name not in keep:
                path.unlink()


def _table_html(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    return table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                         border=0, classes="numbers")


def render_page(sections: list[Section], records_dir: Path, n_records: int) -> str:
    """One static HTML page: inline CSS, relative image links, no script."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>uebench report</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}"
        "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}"
        "table.numbers{border-collapse:collapse;font-size:0.8em}"
        "table.numbers td,table.numbers th{padding:2px 6px;border-bottom:1px solid #eee}"
        "p.caption{color:#333}</style>",
        "</head>", "<body>", "<h1>uebench report</h1>",
        f"<p>Rendered by <code>uebench report</code> from {n_records} run records in "
        f"<code>{html.escape(str(records_dir))}</code>.</p>",
    ]
    for section in sections:
        parts += [f"<h2>{html.escape(section.title)}</h2>",
                  f'<p class="caption">{html.escape(section.caption)}</p>']
        parts += [f'<p><img src="{html.escape(image)}" alt="{html.escape(section.title)}">'
                  "</p>" for image in section.images]
        if section.table_html:
            parts.append(section.table_html)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
