"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no
global state): (a) protected-trained DSC against the budget, (b) against the ROI PSNR, (c) one
protected volume, (d) the z spectra of the deltas, (e) protections under defenses, (f) the
scale study (``uebench scaling --figure``).

Every number comes from :func:`uebench.results.curves.curve_table` (for (f) through
:func:`uebench.results.scaling.scaling_cells`) or the read-back volumes
(:mod:`uebench.report.readback`); this module only draws. Methods are styled by their role:
controls grey/black, dashed/dotted, hollow markers; the others in colour.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from uebench.contracts.scaling import AXES, AXIS_TEXT
from uebench.report.readback import Example, Spectrum
from uebench.results import records as rec
from uebench.results.records import CONTROL, CONTROLS, MATCHED_CONTROL, REFERENCE, Record

CONTROL_STYLES = {
    CONTROL: {"color": "0.5", "linestyle": "--", "marker": "s", "markerfacecolor": "white"},
    MATCHED_CONTROL: {"color": "black", "linestyle": ":", "marker": "D",
                      "markerfacecolor": "white"},
}
"""How controls are drawn, by role: random grey and dashed, the matched random-roi black and
dotted, both with hollow markers."""
CONTROL_MARKERS = "sv^PX"
"""The hollow markers of the grey dashed controls (role ``control``: random and the
energy-matched ones), one each in label order, so that each can be told apart."""
DPI = 110


@dataclass
class Palette:
    """A fixed style per method label, the same in every figure of the page, and each
    label's role (``Method.role``)."""

    styles: dict[str, dict[str, Any]]
    roles: dict[str, str]

    def is_control(self, label: str) -> bool:
        return self.roles.get(label) in CONTROLS

    def order(self, labels: list[str]) -> list[str]:
        """Protections (and the reference) first, controls last, each by name."""
        return sorted(labels, key=lambda label: (self.is_control(label), label))

    @property
    def references(self) -> list[str]:
        return sorted(label for label, role in self.roles.items() if role == REFERENCE)


def palette(roles: dict[str, str]) -> Palette:
    """Styles for the method labels of ``roles``: controls by their role, the others in the
    tab10 colours in label order."""
    import matplotlib

    found = Palette({}, roles)
    others = sorted(label for label in roles if not found.is_control(label))
    colours = matplotlib.colormaps["tab10"].colors
    markers, lines = "o^vsp<>h*", ["-", "-.", (0, (5, 1, 1, 1, 1, 1))]
    found.styles.update({label: {"color": colours[i % 10], "linestyle": lines[(i // 10) % 3],
                                 "marker": markers[(i // 10) % len(markers)] if i >= 10 else "o"}
                         for i, label in enumerate(others)})
    for label in set(roles) - set(others):
        found.styles[label] = dict(CONTROL_STYLES[roles[label]])
    grey = sorted(label for label, role in roles.items() if role == CONTROL)
    for i, label in enumerate(grey):
        found.styles[label]["marker"] = CONTROL_MARKERS[i % len(CONTROL_MARKERS)]
    return found


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


def _grid(n: int, ncols: int = 3) -> tuple[int, int]:
    cols = max(1, min(n, ncols))
    return -(-n // cols), cols


def text_panel(out: Path, name: str, message: str) -> str:
    """A small PNG that says ``message``: the panel drawn where a figure has no data."""
    figure = _new_figure(6, 1.2)
    figure.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)
    return _save(figure, out, name)


def _shared_legend(figure: Figure, axes, colours: Palette) -> None:
    """One legend for all panels, outside on the right (each label once)."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    order = sorted(entries, key=lambda label: (not label.startswith("clean-trained"),
                                               colours.is_control(label), label))
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


def _victim_panels(table: pd.DataFrame) -> tuple[Figure, Any, list[str]]:
    """A figure with one protected-DSC panel per victim of ``table``, three to a row; the
    panels' axes and the victims, in order."""
    victims = sorted(table["victim"].unique())
    nrows, ncols = _grid(len(victims))
    figure = _new_figure(4.4 * ncols + 2.6, 3.6 * nrows + 0.6)
    return figure, figure.subplots(nrows, ncols, squeeze=False).ravel(), victims


def _reference_band(ax, ref: pd.Series) -> None:
    """The victim's clean-trained reference: its 95 % band and its mean."""
    ax.axhspan(ref["clean_lo"], ref["clean_hi"], color="tab:green", alpha=0.15, lw=0)
    ax.axhline(ref["clean_mean"], color="tab:green", lw=1.2,
               label="clean-trained reference (95 % band)")


def _method_lines(ax, rows: pd.DataFrame, colours: Palette, x_column: str) -> None:
    """One protected-DSC line per method of ``rows`` against ``x_column``, with its 95 % band
    (an error bar where the line has one point)."""
    for label in colours.order(list(rows["method"].unique())):
        line = rows[rows["method"] == label].sort_values(x_column)
        style = colours.styles[label]
        x = line[x_column].to_numpy(float)
        ax.plot(x, line["dsc_mean"], label=label, lw=1.6, ms=5,
                zorder=3 if colours.is_control(label) else 2, **style)
        if len(line) > 1:
            ax.fill_between(x, line["dsc_lo"], line["dsc_hi"], color=style["color"],
                            alpha=0.12, lw=0)
        else:
            ax.errorbar(x, line["dsc_mean"], yerr=_yerr(line), color=style["color"],
                        fmt="none", capsize=3)


def curves_figure(table: pd.DataFrame, colours: Palette, out: Path, name: str, title: str
                 ) -> str:
    """(a) Protected-trained DSC against the L-inf budget (log2 axis), one panel per victim."""
    figure, axes, victims = _victim_panels(table)
    for ax, victim in zip(axes, victims):
        rows = table[table["victim"] == victim]
        ref = _reference(rows)
        _reference_band(ax, ref)
        _method_lines(ax, rows, colours, "budget")
        ticks = rows.drop_duplicates("budget").sort_values("budget")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks["budget"].to_numpy(float), ticks["budget_label"].tolist())
        ax.minorticks_off()
        if len(ticks) == 1:
            ax.set_xlim(ticks["budget"].iloc[0] / 1.5, ticks["budget"].iloc[0] * 1.5)
        _dsc_panel(ax, victim, ref, "budget eps (L-inf, log2 axis)")
    return _finish(figure, axes, len(victims), title, colours, out, name)


def psnr_figure(table: pd.DataFrame, colours: Palette, out: Path, name: str, title: str
               ) -> str:
    """(b) Protected-trained DSC against ROI PSNR, one point per method and budget."""
    figure, axes, victims = _victim_panels(table)
    for ax, victim in zip(axes, victims):
        rows = table[(table["victim"] == victim) & table["psnr_roi"].notna()]
        ref = _reference(table[table["victim"] == victim])
        _reference_band(ax, ref)
        for label in colours.order(list(rows["method"].unique())):
            points = rows[rows["method"] == label]
            style = colours.styles[label]
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
    return _finish(figure, axes, len(victims), title, colours, out, name)


def _dsc_panel(ax, victim: str, ref: pd.Series, xlabel: str) -> None:
    """Axes of a protected-DSC panel of one victim."""
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{victim} (clean-trained {ref['clean_mean']:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("protected-trained DSC (fg mean)")
    ax.grid(alpha=0.3)


def _finish(figure: Figure, axes, used: int, title: str, colours: Palette, out: Path,
            name: str) -> str:
    """Hide unused panels, add the shared legend and title (wrapped to the figure's width,
    about 8 characters per inch at the default size, so a long title is not cut off), save."""
    for ax in axes[used:]:
        ax.set_visible(False)
    _shared_legend(figure, axes[:used], colours)
    figure.suptitle(textwrap.fill(title, width=max(40, int(8 * figure.get_figwidth()))))
    return _save(figure, out, name)


def _focus(label: np.ndarray) -> tuple[int, int]:
    """Axial (z) and coronal (y) indices through the foreground centroid (centre if none)."""
    points = np.argwhere(label > 0)
    centre = points.mean(axis=0) if len(points) else np.array(label.shape) / 2
    return int(centre[0]), int(centre[1])


def example_figure(record: Record, example: Example, out: Path, name: str) -> str:
    """(c) Axial and coronal slices of a clean training volume, its protected form (as the
    victim saw it) and the amplified delta, in the channel where the delta is largest."""
    delta, channel = example.delta, example.channel
    protected = example.image + delta
    z, y = _focus(example.label)
    if rec.norm(record) == "linf":
        vmax = float(record["spec"]["epsilon"])
        tick = rec.epsilon_label(vmax)
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
        for col, (volume, what) in enumerate([(example.image, "clean"),
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
    figure.suptitle(f"{record['run_id']}: {rec.method_label(record)} at "
                    f"{rec.budget_label(record)}, case {example.case_id}, "
                    f"{example.channel_name}")
    figure.supxlabel(f"delta x {gain:.1f}: colour range {range_label} "
                     "(clean and protected: grey range [0, 1])", fontsize=10)
    return _save(figure, out, name)


def spectrum_figure(spectra: list[Spectrum], example: Record, colours: Palette, out: Path,
                    name: str) -> str:
    """(d) Mean z-amplitude spectrum of the stored deltas per method (in units of eps), at the
    largest budget whose protection is cached."""
    figure = _new_figure(7, 4.2)
    ax = figure.subplots()
    for spectrum in sorted(spectra, key=lambda s: (colours.is_control(s.label), s.label)):
        frequencies = np.fft.rfftfreq(2 * (len(spectrum.amplitude) - 1))
        style = dict(colours.styles.get(spectrum.label, {"color": "tab:blue", "linestyle": "-"}))
        style.pop("marker", None)
        style.pop("markerfacecolor", None)
        ax.plot(frequencies, spectrum.amplitude, lw=1.5,
                label=f"{spectrum.label} ({rec.budget_label(spectrum.record)})", **style)
    ax.set_yscale("log")
    _readable_log_ticks(ax)
    ax.set_xlabel("z frequency (cycles per voxel; 0.5 = alternating slices)")
    ax.set_ylabel("mean |FFT_z(delta)| / eps")
    ax.set_title(f"z amplitude spectrum of the stored deltas ({example['spec']['dataset']}, "
                 f"{example['spec']['preset']})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(figure, out, name)


def defenses_figure(board: pd.DataFrame, colours: Palette, out: Path, name: str, title: str
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
        references = colours.references
        methods = [m for m in rows["method"].unique() if m not in references]
        methods = [*references, *colours.order(methods)]
        ref = rows.iloc[0]
        ax.axvspan(ref["clean_lo"], ref["clean_hi"], color="tab:green", alpha=0.15, lw=0,
                   label="clean-trained, no defense (95 % band)")
        height = 0.8 / len(methods)
        for offset, method in enumerate(methods):
            bars = rows[rows["method"] == method].set_index("defense").reindex(defenses)
            y = np.arange(len(defenses)) + (offset - (len(methods) - 1) / 2) * height
            reference = method in references
            colour = "0.8" if reference else colours.styles[method]["color"]
            err = np.nan_to_num(np.clip(np.stack([bars["dsc_mean"] - bars["dsc_lo"],
                                                  bars["dsc_hi"] - bars["dsc_mean"]]), 0, None))
            ax.barh(y, bars["dsc_mean"], height=height, color=colour, xerr=err,
                    error_kw={"lw": 0.8, "capsize": 1.5},
                    label="clean data under the defense" if reference else method,
                    hatch="//" if colours.is_control(method) else None,
                    edgecolor="tab:green" if reference else None)
        ax.set_yticks(np.arange(len(defenses)), defenses)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("DSC (fg mean, clean test split)")
        ax.set_title(f"{victim}, {epsilon}", fontsize=10)
    return _finish(figure, axes, len(panels), title, colours, out, name)


def partial_figure(curve: pd.DataFrame, colours: Palette, out: Path, name: str, title: str
                   ) -> str:
    """(f) Protected-trained DSC against the share of protected training cases (F = 1: every
    case), one line per method with its 95 % band, one panel per victim and budget, over the
    clean-trained band."""
    panels = list(curve.groupby(["victim", "budget_label"], sort=True))
    nrows, ncols = _grid(len(panels))
    figure = _new_figure(4.4 * ncols + 2.6, 3.6 * nrows + 0.6)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, ((victim, budget), rows) in zip(axes, panels):
        ref = rows.iloc[0]
        _reference_band(ax, ref)
        _method_lines(ax, rows, colours, "fraction")
        ax.set_xlim(0, 1.05)
        _dsc_panel(ax, f"{victim}, {budget}", ref, "protected share of the training cases")
    return _finish(figure, axes, len(panels), title, colours, out, name)


def _readable_log_ticks(ax) -> None:
    """Plain ``%.3g`` labels on a log y axis; minor ticks labelled only within one decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if high / max(low, 1e-30) < 10 else NullFormatter())


def scaling_figure(cells: pd.DataFrame, colours: Palette, out: Path, name: str, title: str
                   ) -> str:
    """(f) The scale study: each protection's paired difference to the matched random-roi
    (protected minus control, DSC) against each axis's value (log2 axis), with its 95 %
    interval where one exists (3 shared seeds) and the surrogate mark where a seed's surrogate
    stopped below fit_dsc, one panel per axis and budget, zero = the control, ticks at every
    point of the axis; from ``uebench.results.scaling.scaling_cells``. A text panel when no
    protection was measured."""
    protections = cells[cells["role"] != MATCHED_CONTROL]
    if protections.empty:
        return text_panel(out, name, "no protection measured on the scale study's axes yet")
    axis_names = list(dict.fromkeys(protections["axis"]))
    budgets = (protections[["budget", "budget_label"]].drop_duplicates()
               .sort_values("budget")["budget_label"].tolist())
    figure = _new_figure(4.0 * len(budgets) + 2.6, 3.2 * len(axis_names) + 0.6)
    grid = figure.subplots(len(axis_names), len(budgets), squeeze=False)
    series = ["method", *(c for c in ("dataset", "victim", "defense")
                          if protections[c].nunique() > 1)]
    for row, axis in enumerate(axis_names):
        on_axis = protections[protections["axis"] == axis]
        values = [value for value, _ in AXES[axis]]
        for col, budget in enumerate(budgets):
            ax = grid[row, col]
            ax.axhline(0, color="black", lw=1, ls=":", label="matched random-roi (0)")
            panel = on_axis[on_axis["budget_label"] == budget]
            for keys, line in panel.groupby(series, sort=True):
                ordered = line.sort_values("value")
                style = colours.styles[keys[0]]
                ax.errorbar(ordered["value"], ordered["diff_mean"], yerr=_diff_err(ordered),
                            color=style["color"], marker=style.get("marker", "o"),
                            linestyle=style["linestyle"], capsize=3, ms=5, lw=1.4,
                            label=" / ".join(map(str, keys)))
                for _, point in ordered[ordered["surrogate_short_seeds"] > 0].iterrows():
                    ax.annotate(rec.SURROGATE_MARK, (point["value"], point["diff_mean"]),
                                textcoords="offset points", xytext=(5, 4),
                                color=style["color"])
            ax.set_xscale("log", base=2)
            ax.set_xticks(values, [str(v) for v in values])
            ax.minorticks_off()
            ax.set_title(f"{axis}, {budget}", fontsize=10)
            ax.set_xlabel(AXIS_TEXT[axis])
            ax.set_ylabel("DSC minus random-roi")
            ax.grid(alpha=0.3)
    axes = grid.ravel()
    return _finish(figure, axes, len(axes), title, colours, out, name)


def _diff_err(rows: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths of the paired difference (0 where it has no interval)."""
    below = (rows["diff_mean"] - rows["diff_lo"]).to_numpy(float)
    above = (rows["diff_hi"] - rows["diff_mean"]).to_numpy(float)
    return np.nan_to_num(np.clip(np.stack([below, above]), 0, None))


def _walk_ticks(steps: pd.DataFrame) -> list[str]:
    """The walk's step names, the two ends named for whose recipe they are: the first step is
    the authors' recipe, the last uebench's (``uebench.contracts.walk.STEPS``)."""
    from uebench.contracts.walk import STEPS

    names = {0: "authors' recipe", len(STEPS) - 1: "{step}\n= uebench's recipe"}
    return [names.get(index, "{step}").format(step=step)
            for index, step in zip(steps["step_index"], steps["step"])]


def walk_figure(cells: pd.DataFrame, colours: Palette, out: Path, name: str, title: str) -> str:
    """The recipe walk: each protection's paired difference to the matched random-roi (top
    row) and to the clean-trained victim (bottom row), DSC, at each step of the walk, with
    its 95 % interval where one exists, one column per budget; from
    ``uebench.results.walk_board.walk_cells``. A text panel when no protection was measured."""
    protections = cells[~cells["role"].isin([MATCHED_CONTROL, REFERENCE])]
    if protections.empty:
        return text_panel(out, name, "no protection measured on the recipe walk yet")
    budgets = (protections[["budget", "budget_label"]].drop_duplicates()
               .sort_values("budget")["budget_label"].tolist())
    steps = (cells[["step_index", "step"]].drop_duplicates().sort_values("step_index"))
    figure = _new_figure(4.4 * len(budgets) + 2.6, 7.0)
    grid = figure.subplots(2, len(budgets), squeeze=False)
    for row, (prefix, against) in enumerate((("diff", "random-roi"),
                                             ("clean_diff", "clean-trained"))):
        for col, budget in enumerate(budgets):
            ax = grid[row, col]
            ax.axhline(0, color="black", lw=1, ls=":", label=f"{against} (0)")
            panel = protections[protections["budget_label"] == budget]
            for method, line in panel.groupby("method", sort=True):
                ordered = line.sort_values("step_index")
                below = (ordered[f"{prefix}_mean"] - ordered[f"{prefix}_lo"]).to_numpy(float)
                above = (ordered[f"{prefix}_hi"] - ordered[f"{prefix}_mean"]).to_numpy(float)
                style = colours.styles[method]
                ax.errorbar(ordered["step_index"], ordered[f"{prefix}_mean"],
                            yerr=np.nan_to_num(np.clip(np.stack([below, above]), 0, None)),
                            color=style["color"], marker=style.get("marker", "o"),
                            linestyle=style["linestyle"], capsize=3, ms=5, lw=1.4,
                            label=method)
            ax.set_xticks(steps["step_index"], _walk_ticks(steps), rotation=30, fontsize=8)
            ax.set_title(f"{budget}: minus {against}", fontsize=10)
            ax.set_ylabel(f"DSC minus {against}")
            ax.grid(alpha=0.3)
    axes = grid.ravel()
    return _finish(figure, axes, len(axes), title, colours, out, name)


SATURATION_PANELS = {
    "roi_at_bound": ("ROI voxels at the bound", "linear"),
    "roi_sign_flipped": ("ROI voxels whose sign flipped", "symlog"),
    "surrogate_train_dsc": ("surrogate train DSC", "linear"),
}
"""The per-epoch history fields the saturation figure draws, one row each: label, y scale."""


def saturation_figure(history: pd.DataFrame, colours: Palette, out: Path, name: str,
                      title: str) -> str:
    """VoxShield's generator per epoch, from ``uebench.results.ablation_board.history_rows``:
    the share of ROI voxels at the bound, the share whose sign flipped since the last epoch,
    and the surrogate's train DSC (rows), one column per budget, one colour per method label
    and one thin line per seed. A text panel when there is no history."""
    if history.empty:
        return text_panel(out, name, "no record with a per-epoch generator history")
    budgets = sorted(history["budget"].unique())
    figure = _new_figure(4.4 * len(budgets) + 2.6, 8.0)
    grid = figure.subplots(len(SATURATION_PANELS), len(budgets), squeeze=False, sharex="col")
    for col, budget in enumerate(budgets):
        runs = history[history["budget"] == budget].groupby(["method", "seed"], sort=True)
        for (label, _), run in runs:
            for row, field in enumerate(SATURATION_PANELS):
                grid[row, col].plot(run["epoch"], run[field], lw=1.0, alpha=0.8, label=label,
                                    color=colours.styles[label]["color"])
        for row, (ylabel, scale) in enumerate(SATURATION_PANELS.values()):
            ax = grid[row, col]
            if scale == "symlog":
                ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        grid[0, col].set_title(rec.epsilon_label(budget))
        grid[-1, col].set_xlabel("generator epoch")
    axes = grid.ravel()
    return _finish(figure, axes, len(axes), title, colours, out, name)
