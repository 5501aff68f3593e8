"""A fixed calibration workload, timed in the process that times a run, so that run times can be
compared across machines as ratios (``uebench compare``): a small conv3d stack, forward and
backward, on a ``1 x 4 x 32^3`` tensor; the median of a few repeats.

The weights and the input come from a private ``torch.Generator``, so timing it leaves the
global random state (and with it every seeded stage) untouched.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

SHAPE = (1, 4, 32, 32, 32)
CHANNELS = (4, 8, 4)
REPEATS = 5
SEED = 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _workload(x: torch.Tensor, weights: list[torch.Tensor]) -> None:
    """3^3 convolutions with ReLU between, then a backward pass to the input and every weight."""
    out = x
    for index, weight in enumerate(weights):
        out = F.conv3d(out, weight, padding=1)
        if index < len(weights) - 1:
            out = F.relu(out)
    out.square().mean().backward()


def calibration_seconds(device: torch.device | str | None = None, repeats: int = REPEATS
                        ) -> float:
    """Median wall seconds of the calibration workload on ``device`` (default CPU), after one
    warm-up; float32, no autocast, the process's current torch thread count."""
    device = torch.device(device or "cpu")
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand(SHAPE, generator=generator).to(device).requires_grad_(True)
    weights = [(torch.randn(c_out, c_in, 3, 3, 3, generator=generator) / (27 * c_in) ** 0.5)
               .to(device).requires_grad_(True)
               for c_in, c_out in zip(CHANNELS[:-1], CHANNELS[1:])]
    times = []
    for _ in range(repeats + 1):  # the first is the warm-up
        for tensor in (x, *weights):
            tensor.grad = None
        _sync(device)
        start = time.perf_counter()
        _workload(x, weights)
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])
