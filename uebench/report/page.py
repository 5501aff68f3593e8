"""The report's page: its sections (heading, caption, figures, a table) and one static HTML
file with inline CSS, relative image links, no script and no network."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from uebench.report import figures, readback
from uebench.report.figures import Palette, slug
from uebench.results import records as rec
from uebench.results.defense_board import BREAKS_RULE, defense_table
from uebench.results.partial_curve import partial_table
from uebench.results.records import REFERENCE, Record
from uebench.runner.defense_chain import NONE


@dataclass
class Section:
    """One part of the page: a heading, a caption, images (names relative to the page)."""

    title: str
    caption: str
    images: list[str] = field(default_factory=list)
    table_html: str = ""


def curve_sections(records: list[Record], table: pd.DataFrame, out: Path,
                   colours: Palette) -> list[Section]:
    """Sections (a) and (b), one figure pair per (dataset, preset, defense); the reference
    (no perturbation) is the green band, not a line."""
    l0_labels = {rec.method_label(r) for r in records if rec.norm(r) == "l0"}
    drawn = table[table["role"] != REFERENCE]
    linf = drawn[drawn["budget"].notna() & ~drawn["method"].isin(l0_labels)
                 & ~drawn["budget_label"].astype(str).str.startswith("L0")]
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
            curves.append(figures.curves_figure(curve_rows, colours, out, f"curves-{stem}.png",
                                                title))
        scatter.append(figures.psnr_figure(rows, colours, out, f"psnr-{stem}.png", title))
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


def defense_sections(table: pd.DataFrame, out: Path, colours: Palette) -> list[Section]:
    """Section (e), the defense board of ``curve_table``'s cells as a figure, when any record
    met a defense."""
    board = defense_table(table)
    if board.empty:
        return []
    images = [figures.defenses_figure(rows, colours, out,
                                      f"defenses-{slug(dataset, preset)}.png",
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
        images, table_html(board.round(4)))]


def partial_sections(table: pd.DataFrame, out: Path, colours: Palette) -> list[Section]:
    """Section (f), the partial-protection curve of ``curve_table``'s cells, when any record
    protected only part of its training cases."""
    curve = partial_table(table)
    if curve.empty:
        return []
    images = [figures.partial_figure(rows, colours, out,
                                     f"partial-{slug(dataset, preset)}.png",
                                     f"{dataset}, preset {preset}")
              for (dataset, preset), rows in curve.groupby(["dataset", "preset"], sort=True)]
    return [Section(
        "f) Partial protection",
        "Protected-trained DSC when only a seeded share of the training cases is protected and "
        "the rest are trained on clean (the defense partial:fraction=F; F = 1 is the "
        "undefended run): lines = mean over seeds, bands = 95 % hierarchical bootstrap "
        "interval; green band: the clean-trained reference. A protection that only works on a "
        "fully protected set rises to the band as F falls.",
        images, table_html(curve.round(4)))]


def example_section(example: Record, cache_root: Path, out: Path) -> Section:
    """Section (c): one training case of ``example``'s released set, read from the stage
    cache; a text panel saying why when its protection is not there."""
    name = f"example-{slug(example['run_id'])}.png"
    volumes, reason = readback.example_case(example, cache_root)
    note = "" if volumes is not None else f"not available ({reason})"
    image = (figures.example_figure(example, volumes, out, name) if volumes is not None
             else figures.text_panel(out, name, note))
    return Section(
        "c) One protected volume",
        (f"{note[:1].upper()}{note[1:]}. " if note else "")
        + f"Run {example['run_id']}: a training case of the released set as the victim saw it "
        "(clean + stored delta, clamped to [0, 1]), axial and coronal slices through the "
        "foreground centroid, in the channel where the delta is largest. The delta's colour "
        "scale is written under the figure. Read from the stage cache (" + str(cache_root)
        + "); nothing is recomputed.", [image])


def spectrum_section(records: list[Record], example: Record, cache_root: Path, out: Path,
                     colours: Palette) -> Section:
    """Section (d): the z spectra of the cached deltas on the example's dataset and preset,
    with their summaries as a table."""
    name = "spectrum.png"
    spectra = readback.delta_spectra(records, example, cache_root)
    missing = (f"not available (no cached protection in {cache_root} for "
               f"{example['spec']['dataset']} / {example['spec']['preset']})")
    image = (figures.spectrum_figure(spectra, example, colours, out, name) if spectra
             else figures.text_panel(out, name, missing))
    table = pd.DataFrame([
        {"method": s.label, "budget": rec.budget_label(s.record),
         "seed": s.record["spec"]["seed"], "cases": s.cases,
         "high_z_energy_share": round(s.high_z_energy_share, 4),
         "zdiv_per_l2": round(s.zdiv_per_l2, 4), "run": s.record["run_id"]}
        for s in spectra])
    return Section(
        "d) z-direction amplitude spectrum of the deltas",
        ("" if spectra else f"{missing[:1].upper()}{missing[1:]}. ")
        + "Mean amplitude of the FFT along z (the axial slice axis) of each method's "
        "stored deltas over the training cases, channels and in-plane positions, divided by "
        "eps, at the largest budget whose protection is in the cache. Flat = white noise along z; "
        "mass at high frequencies = noise that changes from slice to slice (VoxShield's "
        "inter-slice term). Table: high_z_energy_share (0.5 for white noise) and "
        "zdiv / ||delta||_2, as benchmarks/delta_spectrum.py defines them.",
        [image], table_html(table))

def remove_stale(out: Path, keep: set[str]) -> None:
    """Delete figures of an earlier render (our own name patterns only) that the page no
    longer links, so a committed report folder holds exactly what its page shows."""
    for pattern in ("curves-*.png", "psnr-*.png", "example-*.png", "spectrum.png",
                    "defenses-*.png", "partial-*.png"):
        for path in out.glob(pattern):
            if path.name not in keep:
                path.unlink()


def table_html(table: pd.DataFrame) -> str:
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
