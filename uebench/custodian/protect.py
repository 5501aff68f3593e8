"""``uebench protect``: turn a local dataset folder into a protected copy in the same layout.

What a data custodian runs, on a folder in any registered layout whose reader normalises each
channel with an affine map (``decathlon`` for MSD and nnU-Net v2, ``flare``; ``brats``
z-scores inside the brain of all four modalities, which the per-file fit cannot model, and is
refused). The method is fitted on every case of the folder as the dataset reads it for a run
under the preset (its cube, or under a native preset each case at its file's own grid), each
case's delta is made there (clamped, budget-checked and int8-stored by the harness, as in a
run), then mapped back to each image file's own grid and intensity units and written into a
copy of the file:

* geometry: the delta ``[C, D, H, W]`` goes back to the reader's RAS axes ``[C, X, Y, Z]``,
  is resized (trilinear, as the reader resized the image) to the file's RAS shape, and the
  reader's reorientation is undone (:func:`uebench.custodian.nifti_io.to_file_grid`). Under a
  native preset the delta is already on the file's grid and no resampling comes between it
  and the file (the cube's resampling removes the inter-slice high frequencies VoxShield puts
  its energy in); a native preset with a ``target_spacing`` is refused, as is a method that
  cannot work at the native grid;
* intensity: the reader normalises each channel with an affine map and a clip
  (:class:`uebench.contracts.folders.IntensityMap`: CT window ``(x + 150) / 400``; otherwise a
  z-score over the non-zero voxels with the case's own mean and std, clipped to +-5, to
  [0, 1]); a normalised delta d becomes ``d / scale`` raw units (CT: ``d * 400`` HU; z-score:
  ``d * 10 * std``), never on the voxels the map pins to 0 (raw 0 under a z-score);
* storage: the file keeps its header bytes (and extensions), dtype, scaling and affine
  (:class:`uebench.custodian.nifti_io.NiftiFile`); the new raw values are written in the
  stored dtype. Integer storage rounds to whole stored units, but never beyond the budget
  (the delta is clipped to ``floor(eps / step)`` units, ``step = scale * |scl_slope|``), and
  never onto 0 where a z-score would drop the voxel.

Each channel is fitted into the budget and each written file verified from disk by
:mod:`uebench.custodian.budget_fit` (a file that breaks or erases the budget is refused with
its name, and nothing of that case is left in OUT); the cube the reader makes from the
written files is checked too (``effective_eps_cube``; resizing is an average, so it is at
most the native value). The layout's metadata files (dataset.json) and the labels are copied
unchanged. One case in memory at a time after ``fit`` (a method whose ``fit`` does nothing
does not even load the folder at once). Outputs land atomically and the manifest is rewritten
after every case, so a killed run resumes (:mod:`uebench.custodian.manifest`).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from uebench.contracts import registry
from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.contracts.folders import CaseFiles, NiftiFolder
from uebench.contracts.presets import get_preset
from uebench.custodian.budget_fit import (
    ERASE_FRACTION,
    TOLERANCE,
    check_budget,
    protect_channel,
    verify_written,
)
from uebench.custodian.errors import ProtectError
from uebench.custodian.layouts import folder_layouts, layout_class
from uebench.custodian.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    PARTIAL,
    case_done,
    check_out,
    copy_atomic,
    load_manifest,
    manifest_settings,
    partial_path,
    sha256,
)
from uebench.custodian.nifti_io import NiftiFile, to_file_grid
from uebench.runner.data import DATA_SEED
from uebench.runner.environment import environment
from uebench.runner.store import write_json
from uebench.runner.training import resolve_device, seed_everything


@dataclass
class Settings:
    """What a protect is asked to do; a resume must be asked the same."""

    method: str
    params: dict[str, Any]
    epsilon: float
    seed: int
    preset: str
    device: str

    def manifest(self, root: Path) -> dict[str, Any]:
        """These settings and the input folder, as the manifest records them."""
        return manifest_settings({"method": self.method, "params": self.params,
                                  "epsilon": self.epsilon, "seed": self.seed,
                                  "preset": self.preset, "input": str(root)})


def _folder(data: str | Path) -> NiftiFolder:
    """The folder ``data`` (``PATH``, its layout detected, or ``LAYOUT:PATH``) read by its
    layout's dataset; refused when that layout's normalisation is no per-channel map."""
    text = str(data)
    name, sep, rest = text.partition(":")
    layouts = folder_layouts()
    if sep and name in layouts:
        cls, path = layouts[name], rest
    elif sep and name in registry.datasets.names():
        raise ProtectError(f"{name} is not a folder dataset; protect reads a folder in one of "
                           f"the layouts {', '.join(_protectable())}")
    else:
        path = text
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise ProtectError(f"{root}: not a folder")
        cls = layout_class(root, how="as LAYOUT:PATH")
    if not _writes_back(cls):
        raise ProtectError(f"protect cannot write {cls.layout} folders back: their reader's "
                           "normalisation is not an affine map per channel (the budget fit "
                           f"needs one); protectable layouts: {', '.join(_protectable())}")
    return cls(path)


def _writes_back(cls: type[NiftiFolder]) -> bool:
    """Whether the layout's reader declares its per-channel intensity maps."""
    return cls.intensity_map is not NiftiFolder.intensity_map


def _protectable() -> list[str]:
    return [name for name, cls in folder_layouts().items() if _writes_back(cls)]


def _fit(method: Method, folder: NiftiFolder, ctx: RunContext) -> None:
    """``fit`` on every case of the folder as the preset reads it (its cube, or each case at its
    own grid); a method whose ``fit`` is the base class's no-op gets no cases (nothing is
    loaded)."""
    seed_everything(ctx.seed)
    if type(method).fit is Method.fit:
        method.fit([], ctx)
        return
    cases = folder.build(ctx.preset, DATA_SEED)
    method.fit(cases, ctx)
    del cases


def protect(data: str | Path, out: Path, settings: Settings, resume: bool = False,
            progress: bool = True, echo=print) -> dict[str, Any]:
    """Protect the folder ``data`` into ``out``; returns the manifest. Raises
    :class:`ProtectError` (a ValueError) on any refusal, and the dataset's ``FolderError``
    (a ValueError) on a folder it cannot read."""
    folder = _folder(data)
    root, out = folder.root, Path(out).expanduser().resolve()
    check_out(root, out, resume)
    preset = get_preset(settings.preset)
    device = resolve_device(settings.device)
    method_cls = registry.methods.get(settings.method)
    if preset.native:
        _check_native(preset, method_cls)
    method = method_cls(settings.epsilon, preset, **settings.params)
    ctx = RunContext(preset, settings.seed, device, len(folder.modalities), folder.n_classes,
                     progress)
    budget = method.budget(ctx)
    if budget.norm != "linf":
        raise ProtectError(f"method {method.name!r} is bounded in {budget.norm}, not L-inf; "
                           "protect verifies L-inf budgets only")
    expected = settings.manifest(root)
    previous = (load_manifest(out, expected) if resume else None) or {}
    files: dict[str, Any] = dict(previous.get("files", {}))
    input_sha: dict[str, str] = {}
    todo = [e for e in folder.entries if not case_done(e, files, root, out, input_sha)]
    env = environment(device)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "uebench protect",
        "settings": expected,
        "method": previous.get("method", method.describe()),  # the fitted one, below
        "budget": budget.describe(),
        "layout": folder.layout,
        "modalities": list(folder.modalities),
        "volume_size": preset.volume_size,
        "grid": preset.grid,
        "tolerance": TOLERANCE,
        "erase_fraction": ERASE_FRACTION,
        "uebench_version": env["packages"]["uebench"],
        "git_commit": env["git_commit"],
        "git_dirty": env["git_dirty"],
        "device": env["device"],
        "complete": False,
        "files": files,
    }
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.rglob(PARTIAL + "*"):  # left by a killed run; never a finished file
        stale.unlink()
    for meta_in in folder.listing.metadata:
        rel = str(meta_in.relative_to(root))
        copy_atomic(meta_in, out / rel)
        files[rel] = {"role": "dataset", "sha256_in": sha256(meta_in),
                      "sha256_out": sha256(out / rel)}
    if todo:
        _fit(method, folder, ctx)
        manifest["method"] = method.describe()  # after fit
    write_json(out / MANIFEST, manifest)
    if len(todo) < len(folder.entries):
        echo(f"resuming: {len(folder.entries) - len(todo)} of {len(folder.entries)} cases "
             "already protected")
    for entry in tqdm(todo, desc=f"{method.name}: protecting {root.name}",
                      disable=not progress, leave=False):
        rows = _protect_case(entry, folder, method, budget, ctx, root, out, settings.epsilon)
        files.update(rows)
        write_json(out / MANIFEST, manifest)
        _release_memory()
        for rel, row in rows.items():
            if row["role"] == "image":
                echo(f"{rel}: effective eps {row['effective_eps']:.5g} "
                     f"({row['effective_eps'] * 255:.2f}/255; as read "
                     f"{row['effective_eps_cube'] * 255:.2f}/255), "
                     f"{row['changed_fraction']:.1%} of voxels changed, delta scaled by "
                     f"{row['shrink']:.2f}")
    manifest["complete"] = True
    images = [row for row in files.values() if row["role"] == "image"]
    manifest["summary"] = {
        "cases": len(folder.entries),
        "image_files": len(images),
        "effective_eps_min": min((r["effective_eps"] for r in images), default=None),
        "effective_eps_max": max((r["effective_eps"] for r in images), default=None),
        "shrink_min": min((r["shrink"] for r in images), default=None),
        "shrink_max": max((r["shrink"] for r in images), default=None),
    }
    write_json(out / MANIFEST, manifest)
    return manifest


def _check_native(preset: Preset, method_cls: type[Method]) -> None:
    """At a native preset protect makes each delta at the file's own grid: it refuses a target
    spacing (the delta would be made on another grid and resampled back) and a method that
    cannot protect cases at their own grid."""
    if preset.target_spacing is not None:
        raise ProtectError(f"preset {preset.name!r} resamples cases to "
                           f"{preset.target_spacing:g} mm; protect makes each delta at the "
                           "file's own grid (a native preset without target_spacing, such as "
                           "native) or at a cube preset's cube")
    if not method_cls.supports_native:
        raise ProtectError(f"method {method_cls.name!r} cannot protect cases at their own grid "
                           f"(preset {preset.name!r} is native); use a cube preset or a method "
                           "that can (`uebench list methods`)")


def _load(folder: NiftiFolder, entry: CaseFiles, preset: Preset) -> Case:
    """A case as the dataset reads it under ``preset``: at its own grid (native) or the cube."""
    if preset.native:
        return folder.load_native(entry)
    return folder.load_case(entry, preset.volume_size)


def _release_memory() -> None:
    """Hand the freed heap of the last case back to the system (glibc ``malloc_trim``), so
    the next case's arrays do not land in a fragmented heap that only grows; a no-op where
    there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _protect_case(entry: CaseFiles, folder: NiftiFolder, method: Method, budget,
                  ctx: RunContext, root: Path, out: Path, epsilon: float) -> dict[str, Any]:
    """Write one case's protected image files and its label into ``out``, verified; returns
    the manifest rows of its files."""
    assert entry.label is not None  # the dataset reads complete cases only
    case = _load(folder, entry, ctx.preset)
    what = f"{method.name} on {case.id}"
    stored_delta = budget.store(case.image, np.asarray(method.perturb(case, ctx), np.float32),
                                what)
    delta_cube = budget.release(case.image, stored_delta, what) - case.image
    rows: dict[str, Any] = {}
    partials: list[tuple[Path, Path]] = []
    try:
        channel = 0
        for path in entry.images:
            rel = str(path.relative_to(root))
            nifti = NiftiFile.read(path)
            if len(entry.images) > 1 and nifti.channels() != 1:
                raise ProtectError(f"{path}: {nifti.channels()} channels in a per-channel file")
            new = np.array(nifti.stored)
            results = []
            for c in range(nifti.channels()):
                modality = folder.modalities[channel + c]
                delta = to_file_grid(delta_cube[channel + c], nifti.affine,
                                     nifti.channel(nifti.stored, c).shape)
                result = protect_channel(
                    nifti, nifti.channel(nifti.stored, c), delta,
                    lambda x, m=modality: folder.intensity_map(x, m), epsilon)
                if new.ndim == 3:
                    new = result.stored
                else:
                    new[..., c] = result.stored
                results.append(result)
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = partial_path(target)
            nifti.write(partial, new)
            partials.append((partial, target))
            effective, changed = verify_written(path, partial, root, folder, channel)
            intended = max(r.intended for r in results)
            row = {"role": "image", "case": case.id, "channels": nifti.channels(),
                   "dtype": str(nifti.stored.dtype),
                   "storage_step": max(r.step for r in results),
                   "intended_eps": intended, "effective_eps": effective,
                   "shrink": min(r.shrink for r in results), "changed_fraction": changed,
                   "sha256_in": nifti.sha256}
            check_budget(rel, row, epsilon)
            rows[rel] = row
            channel += nifti.channels()
        protected = _load(folder, CaseFiles(case.id, [p for p, _ in partials], entry.label),
                          ctx.preset)
        cube = float(np.abs(protected.image - case.image).max())
        for row in rows.values():
            row["effective_eps_cube"] = cube
        for partial, target in partials:
            partial.replace(target)
            rows[str(target.relative_to(out))]["sha256_out"] = sha256(target)
        partials = []
        label_rel = str(entry.label.relative_to(root))
        copy_atomic(entry.label, out / label_rel)
        rows[label_rel] = {"role": "label", "case": case.id,
                           "sha256_in": sha256(entry.label),
                           "sha256_out": sha256(out / label_rel)}
    finally:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)
    return rows
