"""Content-addressed stage cache and atomic writes, so a re-run or a crash redoes nothing done."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def stable_hash(payload: Any, length: int = 16) -> str:
    """A short, order-independent hash of a JSON-serialisable payload."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temp file + rename): readers never see a half-written file."""
    data = (json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n").encode()
    _atomic(path, lambda handle: handle.write(data))


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed ``.npz`` atomically."""
    _atomic(path, lambda handle: np.savez_compressed(handle, **arrays))


def read_json(path: Path) -> Any:
    """The JSON at ``path``; a ``ValueError`` naming the file when it cannot be read or is not
    JSON (each reader of records, manifests and benchmark files words its refusal so)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from None


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class StageCache:
    """A folder of finished stage outputs, each under ``<stage>/<key>.<ext>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, stage: str, key: str, ext: str) -> Path:
        return self.root / stage / f"{key}.{ext}"

    def get_json(self, stage: str, key: str) -> Any | None:
        path = self.path(stage, key, "json")
        return read_json(path) if path.exists() else None

    def put_json(self, stage: str, key: str, payload: Any) -> None:
        write_json(self.path(stage, key, "json"), payload)

    def get_arrays(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        path = self.path(stage, key, "npz")
        return read_arrays(path) if path.exists() else None

    def put_arrays(self, stage: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        write_arrays(self.path(stage, key, "npz"), arrays)


def default_cache_root() -> Path:
    """``$UEBENCH_CACHE`` or ``~/.cache/uebench``: generated datasets are shared across runs."""
    return Path(os.environ.get("UEBENCH_CACHE", Path.home() / ".cache" / "uebench"))
