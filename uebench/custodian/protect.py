"""``uebench protect``: turn a local dataset folder into a protected copy in the same layout.

What a data custodian runs. The method is fitted on every case of the folder at the preset's
cube (read exactly as ``decathlon:PATH`` reads it for a run), each case's delta is made there
(clamped, budget-checked and int8-stored by the harness, as in a run), then mapped back to
each image file's own grid and intensity units and written into a copy of the file:

* geometry: the cube delta ``[C, D, H, W]`` goes back to the reader's RAS axes ``[C, X, Y,
  Z]``, is resized (trilinear, as the reader resized the image) to the file's RAS shape, and
  the reader's reorientation is undone (the inverse of nibabel's orientation transform from
  the file's axes to RAS);
* intensity: the reader normalises each channel with an affine map and a clip
  (:class:`uebench.datasets.nifti.IntensityMap`: CT window ``(x + 150) / 400``; otherwise a
  z-score over the non-zero voxels with the case's own mean and std, clipped to +-5, to
  [0, 1]); a normalised delta d becomes ``d / scale`` raw units (CT: ``d * 400`` HU; z-score:
  ``d * 10 * std``), never on the voxels the map pins to 0 (raw 0 under a z-score);
* storage: the file keeps its header bytes (and extensions), dtype, scaling and affine; the
  new raw values are written in the stored dtype. Integer storage rounds to whole stored
  units, but never beyond the budget (the delta is clipped to ``floor(eps / step)`` units,
  ``step = scale * |scl_slope|``), and never onto 0 where a z-score would drop the voxel.

Re-normalisation moves a z-scored channel (its mean and std change with the delta), so each
channel is written, re-normalised in memory with the reader's own map and, while its
L-inf change in the normalised space exceeds eps, the delta is scaled down (``shrink`` in
the manifest); then the written file is read back from disk with the reader
(``read_channels``), normalised again, and the effective eps, ``max |protected_norm -
clean_norm|`` over the file's voxels on its own grid, is verified:

* ``effective_eps > eps * (1 + TOLERANCE)``: the stored form breaks the budget -> refused;
* ``effective_eps < ERASE_FRACTION * intended_eps``: the storage erased the perturbation
  (e.g. int16 CT where ``eps * 400 < 1 HU``) -> refused;

both with the file's name, and nothing of that case is left in OUT. The cube the reader
makes from the written files is checked too (``effective_eps_cube``; resizing is an average,
so it is at most the native value).

One case in memory at a time after ``fit`` (a method whose ``fit`` does nothing does not
even load the folder at once). Outputs land atomically (a ``.partial-`` file renamed once
verified), and ``uebench-protect.json`` in OUT is rewritten after every case, so a killed
run resumes (``--resume``) where it stopped, skipping every case whose files are in the
manifest with matching sha256s.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Resize
from tqdm.auto import tqdm

from uebench.contracts import registry
from uebench.contracts.core import Method, RunContext
from uebench.contracts.presets import get_preset
from uebench.datasets.decathlon import DecathlonFolder
from uebench.datasets.nifti import RAS_LABELS, IntensityMap, read_channels, strip_nifti
from uebench.runner.data import DATA_SEED
from uebench.runner.environment import environment
from uebench.runner.store import read_json, write_json
from uebench.runner.training import resolve_device, seed_everything

MANIFEST = "uebench-protect.json"
MANIFEST_VERSION = 1
PARTIAL = ".partial-"
# The effective eps read back from disk may exceed eps by this fraction: what is left after
# the writer's own check (rounding is budget-safe and re-normalisation is measured before the
# file is written) is float32 arithmetic: the reader's mean/std and scaling in float32.
TOLERANCE = 1e-3
# Below this fraction of the intended L-inf (the cube delta on the file's grid), the stored
# form has erased the perturbation: for integer storage, the storage step exceeds the budget.
ERASE_FRACTION = 0.5
FIT_ROUNDS = 8  # at most this many shrink-and-remeasure rounds per channel


class ProtectError(ValueError):
    """A refusal of ``uebench protect``; the message names the file or folder."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# NIfTI files, byte-faithful


@dataclass
class NiftiFile:
    """One single-file NIfTI image as stored: the bytes before and after its data block
    (header and extensions, unchanged on write), the stored array (file dtype, file axes),
    its scaling and affine."""

    path: Path
    sha256: str
    gz: bool
    prefix: bytes
    suffix: bytes
    stored: np.ndarray
    slope: float
    inter: float
    affine: np.ndarray

    @classmethod
    def read(cls, path: Path) -> NiftiFile:
        path = Path(path)
        if strip_nifti(path.name) is None:
            raise ProtectError(f"{path}: not a single-file NIfTI (.nii or .nii.gz)")
        compressed = path.read_bytes()
        content = gzip.decompress(compressed) if path.name.endswith(".gz") else compressed
        image = nib.load(str(path))
        if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
            raise ProtectError(f"{path}: not a NIfTI-1/2 image")
        proxy = image.dataobj  # where nibabel reads the data from, and how it scales it
        dtype, shape, offset = np.dtype(proxy.dtype), proxy.shape, int(proxy.offset)
        if getattr(proxy, "order", "F") != "F":
            raise ProtectError(f"{path}: data not in Fortran (NIfTI) order")
        end = offset + int(np.prod(shape)) * dtype.itemsize
        stored = np.frombuffer(content, dtype, count=int(np.prod(shape)), offset=offset)
        return cls(path, hashlib.sha256(compressed).hexdigest(), path.name.endswith(".gz"),
                   content[:offset], content[end:], stored.reshape(shape, order="F"),
                   float(proxy.slope), float(proxy.inter), np.asarray(image.affine, np.float64))

    @property
    def integer(self) -> bool:
        return np.issubdtype(self.stored.dtype, np.integer)

    def channels(self) -> int:
        if self.stored.ndim == 3:
            return 1
        if self.stored.ndim == 4:
            return self.stored.shape[3]
        raise ProtectError(f"{self.path}: {self.stored.ndim}D image; protect reads 3D and 4D")

    def channel(self, array: np.ndarray, c: int) -> np.ndarray:
        return array if array.ndim == 3 else array[..., c]

    def raw(self, stored: np.ndarray) -> np.ndarray:
        """Raw (scaled) values, float32 as the reader loads them."""
        return (stored.astype(np.float64) * self.slope + self.inter).astype(np.float32)

    def write(self, path: Path, stored: np.ndarray) -> None:
        """This file with ``stored`` as its data: header bytes, dtype and scaling unchanged;
        gzip without a timestamp, so the same data gives the same bytes."""
        data = np.asarray(stored, dtype=self.stored.dtype).tobytes(order="F")
        content = self.prefix + data + self.suffix
        path.write_bytes(gzip.compress(content, compresslevel=1, mtime=0) if self.gz
                         else content)


# ---------------------------------------------------------------------------------------------
# geometry: the inverse of the reader's reorientation and resize


def _orientations(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(file -> RAS, RAS -> file) nibabel orientation transforms for a 3D affine."""
    file_ornt = nib.orientations.io_orientation(affine)
    ras = nib.orientations.axcodes2ornt(("R", "A", "S"), labels=RAS_LABELS)
    return (nib.orientations.ornt_transform(file_ornt, ras),
            nib.orientations.ornt_transform(ras, file_ornt))


def to_file_grid(delta_cube: np.ndarray, affine: np.ndarray,
                 file_shape: tuple[int, ...]) -> np.ndarray:
    """One channel of a cube delta ``[D, H, W]`` (D = z) on the file's grid ``(X, Y, Z)`` in
    the file's voxel order: back to RAS axes, resized trilinearly to the file's RAS shape
    (the reader resized the image the same way), reorientation undone."""
    to_ras, to_file = _orientations(affine)
    ras_shape = nib.orientations.apply_orientation(np.empty(file_shape, np.int8), to_ras).shape
    ras = np.ascontiguousarray(delta_cube.transpose(2, 1, 0))[None]
    resized = np.asarray(Resize(ras_shape, mode="trilinear")(torch.as_tensor(ras)))[0]
    return np.ascontiguousarray(nib.orientations.apply_orientation(resized, to_file),
                                dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# intensity: one channel written within the budget


@dataclass
class ChannelResult:
    stored: np.ndarray
    intended: float  # max |delta| the cube delta asks for on this grid (voxels it may move)
    simulated: float  # max |norm(written) - norm(clean)| measured before writing
    shrink: float  # factor the delta was scaled by to stay within eps
    step: float  # one stored unit in the normalised space (0: float storage)


def protect_channel(nifti: NiftiFile, stored: np.ndarray, delta: np.ndarray,
                    normaliser, epsilon: float) -> ChannelResult:
    """The stored values of one channel carrying ``delta`` (normalised units, file grid):
    mapped to raw units with the reader's map for this case, rounded to the storage without
    leaving the budget, re-normalised (new statistics) and shrunk until within ``epsilon``."""
    clean_raw = nifti.raw(stored)
    clean_map: IntensityMap = normaliser(torch.from_numpy(clean_raw))
    clean_norm = clean_map.apply(torch.from_numpy(clean_raw))
    movable = clean_raw != 0 if clean_map.nonzero_only else np.ones(clean_raw.shape, bool)
    delta = np.where(movable, delta, np.float32(0)).astype(np.float32)
    intended = float(np.abs(delta).max()) if delta.size else 0.0
    scale = clean_map.scale
    step = scale * abs(nifti.slope) if nifti.integer else 0.0
    wide = np.int32 if nifti.integer and stored.dtype.itemsize < 4 else np.int64
    factor, simulated, candidate = 1.0, 0.0, stored
    for _ in range(FIT_ROUNDS):
        raw_delta = delta * np.float32(factor / scale)  # raw units
        if nifti.integer:
            limit = math.floor(epsilon / step * (1 + 1e-9))
            units = np.clip(np.rint(raw_delta / np.float32(nifti.slope)), -limit, limit)
            info = np.iinfo(stored.dtype)
            candidate = np.clip(stored.astype(wide) + units.astype(wide), info.min,
                                info.max).astype(stored.dtype)
        else:
            target = clean_raw + raw_delta
            candidate = ((target - nifti.inter) / nifti.slope).astype(stored.dtype)
        new_raw = nifti.raw(candidate)
        if clean_map.nonzero_only:  # a voxel that reaches 0 would leave the z-score's mask
            lost = movable & (new_raw == 0)
            if lost.any():
                candidate = np.where(lost, stored, candidate)
                new_raw = nifti.raw(candidate)
        new = torch.from_numpy(new_raw)
        moved = (normaliser(new).apply(new) - clean_norm).abs()
        simulated = float(moved.max()) if moved.numel() else 0.0
        if simulated <= epsilon * (1 + 1e-6):
            break
        factor *= epsilon / simulated * (1 - 1e-3)
    return ChannelResult(candidate, intended, simulated, factor, step)


# ---------------------------------------------------------------------------------------------
# the command


@dataclass
class Settings:
    method: str
    params: dict[str, Any]
    epsilon: float
    seed: int
    preset: str
    device: str


def _folder(data: str | Path) -> DecathlonFolder:
    text = str(data)
    name, sep, rest = text.partition(":")
    if sep and name in registry.datasets.names() and name != "decathlon":
        raise ProtectError(f"protect reads decathlon/MSD and nnU-Net v2 folders; {name}: "
                           "layouts are not supported yet")
    return DecathlonFolder(rest if sep and name == "decathlon" else text)


def _check_paths(root: Path, out: Path, resume: bool) -> None:
    out = out.expanduser().resolve()
    if out == root or out.is_relative_to(root):
        raise ProtectError(f"{out}: OUT is inside the input folder {root}; protect never "
                           "writes into its input")
    if root.is_relative_to(out):
        raise ProtectError(f"{out}: OUT contains the input folder {root}; choose another OUT")
    if out.exists() and not out.is_dir():
        raise ProtectError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not resume:
            raise ProtectError(f"{out}: not empty; pass --resume to finish an interrupted "
                               "protect there, or choose an empty OUT")
        if not (out / MANIFEST).is_file():
            raise ProtectError(f"{out}: not empty and has no {MANIFEST}; --resume only "
                               "finishes a folder that uebench protect started")


def _manifest_settings(settings: Settings, root: Path) -> dict[str, Any]:
    """The settings a resume must match, as the manifest's JSON gives them back."""
    return json.loads(json.dumps(
        {"method": settings.method, "params": settings.params, "epsilon": settings.epsilon,
         "seed": settings.seed, "preset": settings.preset, "input": str(root)},
        sort_keys=True, default=str))


def _load_manifest(out: Path, expected: dict[str, Any]) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = read_json(path)
    except ValueError as error:
        raise ProtectError(f"{path}: not valid JSON ({error})") from None
    stored = manifest.get("settings", {})
    differ = [f"{key} {stored.get(key)!r} != {value!r}" for key, value in expected.items()
              if stored.get(key) != value]
    if differ:
        raise ProtectError(f"{path}: OUT was protected with other settings ({'; '.join(differ)}"
                           "); resume with the same ones or choose an empty OUT")
    return manifest


def _done(entry: dict[str, Any], files: dict[str, Any], root: Path, out: Path,
          input_sha: dict[str, str]) -> bool:
    """Whether a case's files are all in the manifest, from the same inputs, and on disk
    with the recorded sha256."""
    for path in (*entry["image"], entry["label"]):
        rel = str(path.relative_to(root))
        row = files.get(rel)
        if row is None:
            return False
        if rel not in input_sha:
            input_sha[rel] = sha256(path)
        if row.get("sha256_in") != input_sha[rel]:
            return False
        target = out / rel
        if not target.is_file() or sha256(target) != row.get("sha256_out"):
            return False
    return True


def _partial(path: Path) -> Path:
    return path.with_name(PARTIAL + path.name)  # keeps the .nii(.gz) ending readers need


def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial(target)
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def _fit(method: Method, folder: DecathlonFolder, ctx: RunContext) -> None:
    """``fit`` on every case of the folder at the preset's cube; a method whose ``fit`` is
    the base class's no-op gets no cases (nothing is loaded)."""
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
    :class:`ProtectError` (a ValueError) on any refusal."""
    folder = _folder(data)
    root, out = folder.root, Path(out).expanduser().resolve()
    _check_paths(root, out, resume)
    preset = get_preset(settings.preset)
    device = resolve_device(settings.device)
    method = registry.methods.get(settings.method)(settings.epsilon, preset, **settings.params)
    ctx = RunContext(preset, settings.seed, device, len(folder.modalities), folder.n_classes,
                     progress)
    budget = method.budget(ctx)
    if budget.norm != "linf":
        raise ProtectError(f"method {method.name!r} is bounded in {budget.norm}, not L-inf; "
                           "protect verifies L-inf budgets only")
    expected = _manifest_settings(settings, root)
    previous = (_load_manifest(out, expected) if resume else None) or {}
    files: dict[str, Any] = dict(previous.get("files", {}))
    input_sha: dict[str, str] = {}
    todo = [e for e in folder.entries if not _done(e, files, root, out, input_sha)]
    env = environment(device)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "uebench protect",
        "settings": expected,
        "method": previous.get("method", method.describe()),  # the fitted one, below
        "budget": budget.describe(),
        "layout": "decathlon",
        "modalities": list(folder.modalities),
        "volume_size": preset.volume_size,
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
    meta_in = folder.meta_path
    _copy_atomic(meta_in, out / meta_in.name)
    files[meta_in.name] = {"role": "dataset", "sha256_in": sha256(meta_in),
                           "sha256_out": sha256(out / meta_in.name)}
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
                     f"({row['effective_eps'] * 255:.2f}/255; cube "
                     f"{row['effective_eps_cube'] * 255:.2f}/255), "
                     f"{row['changed_fraction']:.1%} of voxels changed")
    manifest["complete"] = True
    images = [row for row in files.values() if row["role"] == "image"]
    manifest["summary"] = {
        "cases": len(folder.entries),
        "image_files": len(images),
        "effective_eps_min": min((r["effective_eps"] for r in images), default=None),
        "effective_eps_max": max((r["effective_eps"] for r in images), default=None),
    }
    write_json(out / MANIFEST, manifest)
    return manifest


def _release_memory() -> None:
    """Hand the freed heap of the last case back to the system (glibc ``malloc_trim``), so
    the next case's arrays do not land in a fragmented heap that only grows; a no-op where
    there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _protect_case(entry: dict[str, Any], folder: DecathlonFolder, method: Method, budget,
                  ctx: RunContext, root: Path, out: Path, epsilon: float) -> dict[str, Any]:
    """Write one case's protected image files and its label into ``out``, verified; returns
    the manifest rows of its files."""
    size = ctx.preset.volume_size
    case = folder.load_case(entry, size)
    what = f"{method.name} on {case.id}"
    stored_delta = budget.store(case.image, np.asarray(method.perturb(case, ctx), np.float32),
                                what)
    delta_cube = budget.release(case.image, stored_delta, what) - case.image
    rows: dict[str, Any] = {}
    partials: list[tuple[Path, Path]] = []
    try:
        channel = 0
        for path in entry["image"]:
            rel = str(path.relative_to(root))
            nifti = NiftiFile.read(path)
            if len(entry["image"]) > 1 and nifti.channels() != 1:
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
            partial = _partial(target)
            nifti.write(partial, new)
            partials.append((partial, target))
            effective, changed = _verify(path, partial, root, folder, channel)
            intended = max(r.intended for r in results)
            row = {"role": "image", "case": case.id, "channels": nifti.channels(),
                   "dtype": str(nifti.stored.dtype),
                   "storage_step": max(r.step for r in results),
                   "intended_eps": intended, "effective_eps": effective,
                   "shrink": min(r.shrink for r in results), "changed_fraction": changed,
                   "sha256_in": nifti.sha256}
            _check_budget(rel, row, epsilon)
            rows[rel] = row
            channel += nifti.channels()
        protected = folder.load_case({"id": case.id, "image": [p for p, _ in partials],
                                      "label": entry["label"]}, size)
        cube = float(np.abs(protected.image - case.image).max())
        for row in rows.values():
            row["effective_eps_cube"] = cube
        for partial, target in partials:
            partial.replace(target)
            rows[str(target.relative_to(out))]["sha256_out"] = sha256(target)
        partials = []
        label_rel = str(entry["label"].relative_to(root))
        _copy_atomic(entry["label"], out / label_rel)
        rows[label_rel] = {"role": "label", "case": case.id,
                           "sha256_in": sha256(entry["label"]),
                           "sha256_out": sha256(out / label_rel)}
    finally:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)
    return rows


def _verify(clean_path: Path, written: Path, root: Path, folder: DecathlonFolder,
            first_channel: int) -> tuple[float, float]:
    """Read the written file back with the reader, re-normalise both it and the clean file
    (each with its own statistics) and return (max |protected_norm - clean_norm|, the fraction
    of voxels whose stored value changed)."""
    clean = read_channels([clean_path], root).float()
    protected = read_channels([written], written.parent).float()
    effective = 0.0
    changed = 0
    for c in range(clean.shape[0]):
        modality = folder.modalities[first_channel + c]
        a = folder.intensity_map(clean[c], modality).apply(clean[c])
        b = folder.intensity_map(protected[c], modality).apply(protected[c])
        effective = max(effective, float((b - a).abs().max()))
        changed += int((protected[c] != clean[c]).sum())
    return effective, changed / max(clean.numel(), 1)


def _check_budget(rel: str, row: dict[str, Any], epsilon: float) -> None:
    effective, intended = row["effective_eps"], row["intended_eps"]
    if effective > epsilon * (1 + TOLERANCE):
        raise ProtectError(
            f"{rel}: the written file breaks the budget: effective eps {effective:.6g} "
            f"({effective * 255:.3f}/255) > eps {epsilon:.6g} x (1 + {TOLERANCE}) after "
            f"re-reading and re-normalising it ({row['dtype']} storage)")
    if intended > 0 and effective < ERASE_FRACTION * intended:
        step = row["storage_step"]
        why = (f"one stored {row['dtype']} unit is {step:.4g} in the normalised space "
               f"({step * 255:.3f}/255), more than the budget allows to round to"
               if step > epsilon else
               f"what survives {row['dtype']} rounding and the re-normalisation (a z-score "
               "recomputed on the protected data cancels a shift of the channel's mean)")
        raise ProtectError(
            f"{rel}: the storage erases the perturbation: effective eps {effective:.4g} on "
            f"disk vs {intended:.4g} intended (eps {epsilon:.4g} = {epsilon * 255:.3f}/255): "
            f"{why}; use a larger --epsilon or a float32 copy of the folder")
