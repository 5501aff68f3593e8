"""``uebench.runner.allocator`` (issue 32, the cost): with glibc keeping freed memory, a large
tensor freed and allocated again, as a training step does, reuses pages the process holds
instead of faulting fresh ones in (after a few rounds: an aligned block does not fit the hole
of an equal one freed, so the heap grows until freed neighbours merge), and memory stops
growing."""

import subprocess
import sys

import pytest

from uebench.runner.allocator import _libc

SCRIPT = """
import resource, sys, torch
from uebench.runner.allocator import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
for _ in range(8):  # 64 MiB, allocated, touched and freed, as a training step's activations
    torch.ones(16, 2**20).sum()
rounds = []
for _ in range(3):  # the same again; the fewest faults of three rounds, so that one round that
    start, held = faults(), rss()  # meets the heap's growth on a loaded machine does not count
    torch.ones(16, 2**20).sum()
    rounds.append((faults() - start, rss() - held))
print(applied, *min(rounds))
"""


def _faults(mode: str) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_retained_memory_is_reused_without_page_faults():
    applied, retained, grown = _faults("retain")
    _, default, _ = _faults("default")
    assert applied == "True"
    assert default > 10_000  # 64 MiB by mmap: 16k fresh 4 KiB pages
    assert retained < default / 10
    assert grown < 2**20  # a later round reuses what the process holds
