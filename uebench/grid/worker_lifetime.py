"""Local sweep workers that die with their driver.

A ``ProcessPoolExecutor`` worker notices its driver's end only when it next reads its call
queue, that is after the stage it is computing: a driver stopped by a signal left its workers
training for up to half an hour on the cores the next job wanted. On Linux the kernel can send
the worker a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere workers keep
the executor's own behaviour.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send this process ``sig`` when its parent ends; True where it could
    (Linux). A parent already gone before the request is answered by exiting now."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)
    return True
