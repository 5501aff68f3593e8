"""``uebench report``: a static HTML report (figures + one ``index.html``) rendered from a
folder of run records.

The page shows, from the records and (for the last two figures) the stage cache:

a) protected-trained DSC against the budget, one panel per victim, one line per method with its
   95 % interval band, the controls drawn distinctly and the clean-trained reference as a band;
b) efficacy against fidelity: protected-trained DSC against the ROI PSNR, one point per method
   and budget;
c) one example run: axial and coronal slices of a clean training volume, its protected version
   and the (amplified) delta;
d) the amplitude spectrum of the deltas along z (the axial slice axis), one line per method;
e) when any record met a defense, the protections under each defense.

Every number and interval comes from :func:`uebench.results.curves.curve_table`; the volumes
of (c) and (d) are read back exactly as the pipeline made them (:mod:`.readback`), the
figures drawn by :mod:`.figures`, the page written by :mod:`.page`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from uebench.report import page
from uebench.report.figures import palette
from uebench.results import records as rec
from uebench.results.curves import curve_table
from uebench.results.records import CONTROLS, REFERENCE, Record, RecordError


class ReportError(ValueError):
    """Bad input for a report: no records, an unreadable record, an unknown ``--example``."""


def pick_example(records: list[Record], run_id: str | None = None) -> Record:
    """The record with ``run_id``, or by default the voxshield run with the largest L-inf
    budget (no defense, lowest seed); without voxshield, the protection (not a control, not
    the reference) with the largest budget; failing that, any record."""
    if run_id is not None:
        by_id = {r["run_id"]: r for r in records}
        if run_id not in by_id:
            close = difflib.get_close_matches(run_id, list(by_id), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ReportError(f"--example {run_id!r}: no record with that run id{hint}")
        return by_id[run_id]

    def rank(record: Record) -> tuple:
        spec, role = record["spec"], rec.role(record)
        return (rec.norm(record) == "linf", spec["defense"] == "none",
                role != REFERENCE, spec["method"] == "voxshield",
                not spec.get("method_params"), role not in CONTROLS,
                spec["epsilon"], -spec["seed"], record["run_id"])

    return max(records, key=rank)


def build_report(records_dir: Path, out: Path, cache_root: Path | None = None,
                 example_id: str | None = None) -> Path:
    """Render every figure and ``index.html`` into ``out``; returns the page's path.

    ``cache_root`` defaults to ``records_dir/../cache`` (the layout ``uebench run --out``
    writes). Raises ``ReportError`` for a missing or empty records folder, an unreadable
    record or an unknown ``example_id``.
    """
    records_dir = Path(records_dir)
    try:
        records = rec.load_records(records_dir)
    except RecordError as error:
        raise ReportError(str(error)) from None
    cache_root = Path(cache_root) if cache_root is not None else records_dir.parent / "cache"
    example = pick_example(records, example_id)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = curve_table(records)
    colours = palette({rec.method_label(r): rec.role(r) for r in records})
    sections = page.curve_sections(records, table, out, colours)
    sections.append(page.example_section(example, cache_root, out))
    sections.append(page.spectrum_section(records, example, cache_root, out, colours))
    sections += page.defense_sections(table, out, colours)
    sections += page.partial_sections(table, out, colours)
    sections.append(page.Section(
        "The numbers behind the curves",
        "uebench.results.curves.curve_table of the records, as drawn above.", [],
        page.table_html(table)))
    index = out / "index.html"
    index.write_text(page.render_page(sections, records_dir, len(records)))
    page.remove_stale(out, {image for section in sections for image in section.images})
    return index
