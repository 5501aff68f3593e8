"""``uebench protect``'s manifest and resume: ``OUT/uebench-protect.json`` (settings, the
sha256 of every file in and out), the checks on OUT, and atomic landing of each output (a
``.partial-`` file renamed once verified), so a killed run resumes (``--resume``) where it
stopped, skipping every case whose files are in the manifest with matching sha256s."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from uebench.contracts.folders import CaseFiles
from uebench.custodian.errors import ProtectError
from uebench.runner.store import read_json

MANIFEST = "uebench-protect.json"
MANIFEST_VERSION = 1
PARTIAL = ".partial-"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_out(root: Path, out: Path, resume: bool) -> None:
    """Refuse an OUT inside (or containing) the input folder ``root``, a file, or a non-empty
    folder unless ``resume`` and it holds a manifest."""
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


def manifest_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a resume must match, as the manifest's JSON gives them back."""
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def load_manifest(out: Path, expected: dict[str, Any]) -> dict[str, Any] | None:
    """OUT's manifest (None when there is none); refused when its settings differ."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = read_json(path)
    except ValueError as error:
        raise ProtectError(str(error)) from None
    if not isinstance(manifest, dict):
        raise ProtectError(f"{path}: not a uebench protect manifest (not a JSON object)")
    stored = manifest.get("settings", {})
    differ = [f"{key} {stored.get(key)!r} != {value!r}" for key, value in expected.items()
              if stored.get(key) != value]
    if differ:
        raise ProtectError(f"{path}: OUT was protected with other settings ({'; '.join(differ)}"
                           "); resume with the same ones or choose an empty OUT")
    return manifest


def case_done(entry: CaseFiles, files: dict[str, Any], root: Path, out: Path,
              input_sha: dict[str, str]) -> bool:
    """Whether a case's files are all in the manifest, from the same inputs, and on disk
    with the recorded sha256 (``input_sha`` caches the inputs' digests)."""
    for path in (*entry.images, entry.label):
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


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is verified (keeps the .nii(.gz) ending)."""
    return path.with_name(PARTIAL + path.name)


def copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(target)
    shutil.copyfile(source, tmp)
    tmp.replace(target)
