"""Spectral measures of a delta along z (the axial slice axis), shared by the methods that
optimise them and the report that measures them: VoxShield's inter-slice term ``zdiv`` (with
its hand-written gradient), ``zdiv`` per unit L2, and the z amplitude spectrum with its
high-frequency energy share (0.5 for white noise)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class _ZDiv(torch.autograd.Function):
    """``zdiv`` on a float32 ``delta`` with a hand-written backward.

    Autograd's own backward of ``rfft2`` runs a full complex FFT and pads and copies the
    half-spectrum; this one is one inverse real FFT. For a real ``L`` of ``F = rfft2(x)`` with
    gradient ``G``, ``dL/dx = H * W * irfft2(G')`` where ``G'`` halves the columns that stand
    for a mirrored pair; those are exactly the columns ``zdiv`` weights by 2, so the weight and
    the halving cancel and neither is applied (``norm="forward"`` supplies the ``H * W``).
    """

    @staticmethod
    def forward(ctx: Any, delta: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(delta, dim=(-2, -1))
        amplitude = spectrum.abs()
        weight = torch.full((amplitude.shape[-1],), 2.0, device=delta.device)
        weight[0] = 1.0
        if delta.shape[-1] % 2 == 0:
            weight[-1] = 1.0
        difference = amplitude[:, :, 1:] - amplitude[:, :, :-1]
        distance = torch.sqrt((difference.square() * weight).sum(dim=(-2, -1)) + 1e-10)
        ctx.save_for_backward(spectrum, amplitude, distance)
        ctx.size = delta.shape[-2:]
        return distance.mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        spectrum, amplitude, distance = ctx.saved_tensors
        scale = (grad / (distance.numel() * distance))[..., None, None]
        # d distance[d] / d A[d + 1] = -d distance[d] / d A[d]; padded at both ends, the
        # difference along z sums the two slice pairs each amplitude belongs to.
        pulled = scale * (amplitude[:, :, :-1] - amplitude[:, :, 1:])
        amplitude_grad = F.pad(pulled, (0, 0, 0, 0, 1, 1)).diff(dim=2)
        ratio = amplitude_grad / amplitude.clamp(min=torch.finfo(amplitude.dtype).tiny)
        return torch.fft.irfft2(spectrum * ratio, s=ctx.size, dim=(-2, -1), norm="forward")


def zdiv(delta: torch.Tensor) -> torch.Tensor:
    """Inter-slice frequency consistency disruption of ``delta [B, C, D, H, W]``.

    ``A = |FFT2(delta)|`` over (H, W) per axial slice (unnormalised); the result is the mean over
    (b, c, d) of ``sqrt(sum_hw (A[d+1] - A[d])^2 + 1e-10)``. Computed with the real FFT: the
    amplitude spectrum of a real slice is Hermitian-symmetric, so the full sum equals the
    half-spectrum sum with the mirrored columns counted twice. Always in float32; the
    gradient is ``_ZDiv``'s (equal to autograd's; 0.53x its time at 1 CPU thread, 0.62x at 2).
    """
    return _ZDiv.apply(delta.float())



def zdiv_per_l2(delta: np.ndarray) -> float:
    """``zdiv`` of ``delta [C, D, H, W]`` divided by ``||delta||_2`` (scale-free)."""
    tensor = torch.from_numpy(delta.astype(np.float32))[None]
    return float(zdiv(tensor)) / max(float(tensor.norm()), 1e-12)


def z_spectrum(delta: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean amplitude of the FFT of ``delta [C, D, H, W]`` along z (axis D), per z-frequency,
    and the share of its energy in the upper half of the z-frequencies (0.5 for white noise;
    ``benchmarks/delta_spectrum.py`` reports it too)."""
    spectrum = np.fft.rfft(delta.astype(np.float64), axis=1)
    power = np.abs(spectrum) ** 2
    half = power.shape[1] // 2
    share = float(power[:, half:].sum() / max(power.sum(), 1e-20))
    return np.abs(spectrum).mean(axis=(0, 2, 3)), share
