"""glibc's allocator, told to keep freed memory (issue 32, the cost).

On CPU, torch allocates every activation and gradient with ``posix_memalign``; glibc serves a
block above its mmap threshold (128 KiB, raised on the fly to at most 32 MiB) with a fresh
``mmap``, returns it with ``munmap`` when it is freed, and trims the heap's top above its trim
threshold. A 64^3 victim's activations are 1-30 MiB each, so every training step maps, faults
in (a minor page fault and a zeroed page per 4 KiB) and unmaps them again. Measured on an AMD
EPYC (family 25 model 17, one torch thread, ``benchmarks/cost_ratios.py --sections
allocator``): a quick unet train step took 171k minor page faults and 328 of its 949 CPU ms
in the kernel; a quick swinunetr step 517k faults and 1017 of 2925 ms.

``retain_freed_memory`` turns ``mmap`` off for ``malloc`` (``M_MMAP_MAX`` 0) and trims the
heap only above 2 GiB free (``M_TRIM_THRESHOLD`` 2^31 - 1, the most ``mallopt`` takes): a freed
block stays in the process and the next step reuses it, as torch's caching allocator does on
GPUs. Same host: the unet step 0.65x the CPU time, swinunetr 0.64x, VoxShield's N + S step
0.94x, with the same results bit for bit (only addresses change); the process keeps its peak
memory mapped.

Calling it before the work starts is enough (glibc takes ``mallopt`` at any time); the same
setting from outside the process is ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``
in the environment. A no-op (returns False) where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt's value is a C int
ENVIRONMENT = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def retain_freed_memory() -> bool:
    """Keep freed blocks in the process (no ``mmap`` per large block, no heap trim); True when
    glibc accepted both settings."""
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return (bool(libc.mallopt(M_MMAP_MAX, 0))
            and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
