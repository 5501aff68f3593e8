"""What a record says about where it was produced: versions, device, git commit and whether
the work tree had uncommitted changes when the process loaded uebench, and where plugins from
entry points come from."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("uebench", "torch", "monai", "numpy", "nibabel", "scipy")
# Where the git commit and dirtiness of a record are read: the uebench checkout.
CHECKOUT = Path(__file__).resolve().parent


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=cwd or CHECKOUT, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the uebench checkout (or the git work tree at ``cwd``), or None outside a
    git work tree."""
    out = _git("rev-parse", "HEAD", cwd=cwd)
    return (out.stdout.strip() or None) if out is not None else None


def git_dirty(cwd: Path | None = None) -> bool | None:
    """Whether the uebench checkout (or the git work tree at ``cwd``) has uncommitted changes:
    modified or staged tracked files, or untracked files git does not ignore (a new plugin
    module counts). None outside a git work tree or without git."""
    out = _git("status", "--porcelain", cwd=cwd)
    if out is None or out.returncode != 0:
        return None
    return bool(out.stdout.strip())


def checkout_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the uebench checkout now."""
    return git_commit(), git_dirty()


# The checkout as this process found it when it loaded uebench: a commit made while a long run
# is under way must not be credited with the code the run had already imported (a record used
# to read the commit when it was written, after the run).
LOADED_CHECKOUT: tuple[str | None, bool | None] = checkout_state()


def describe_device(device: torch.device) -> str:
    """A human-readable device name, e.g. ``cpu (2 threads)`` or ``NVIDIA H100``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), e.g. ``AMD EPYC``; the architecture where
    the kernel does not say. Training on a CPU is bit-for-bit reproducible on one model only."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_id(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """What tells two CPUs apart where the model name does not (a VM may report only ``AMD
    EPYC``): family, model and stepping of the first processor and a short hash of its feature
    flags, e.g. ``family 25 model 1 stepping 1 flags 3fa2c1d0``; None where the kernel does
    not say. Two hosts named ``AMD EPYC`` trained the same quick victim, with bit-identical
    code, to 0.679 and 0.784."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor only
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "cpu family" not in fields:
        return None
    flags = hashlib.sha256(" ".join(sorted(fields.get("flags", "").split())).encode())
    return (f"family {fields['cpu family']} model {fields.get('model', '?')} stepping "
            f"{fields.get('stepping', '?')} flags {flags.hexdigest()[:8]}")


def environment(device: torch.device,
                plugins: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The record's ``environment`` section. ``plugins``: for each of the run's method, victim,
    dataset and defense that comes from an entry point rather than uebench itself, its
    distribution and version (``uebench.contracts.registry.origins``); ``{}`` when all are built
    in."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "device": describe_device(device),
        "cpu_model": cpu_model(),
        "cpu_id": cpu_id(),
        "git_commit": LOADED_CHECKOUT[0],
        "git_dirty": LOADED_CHECKOUT[1],
        "plugins": dict(plugins or {}),
    }
