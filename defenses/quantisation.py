"""Quantisation data defenses (ISS, Liu et al. 2023): fewer intensity levels, lossy codecs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from uebench.contracts.core import Defense
from uebench.contracts.registry import register_defense


@register_defense("quantize")
class BitDepthReduction(Defense):
    summary = "bit-depth reduction to 4 bits (the analogue of ISS grayscale/BDR)"

    param_ranges = {"bits": (1, None)}

    def __init__(self, bits: int = 4) -> None:
        self.bits = bits

    def apply(self, image, label, rng):
        levels = 2**self.bits - 1
        return (np.round(image * levels) / levels).astype(np.float32), label


@register_defense("jpeg")
class JPEGCompression(Defense):
    """ISS's JPEG defense (Liu et al. 2023) on volumes: every axial slice of every channel is
    rounded to 8 bits, JPEG-encoded as a grayscale image at ``quality`` and decoded back."""

    summary = "per-axial-slice, per-channel JPEG at quality 10 (ISS), 8-bit grayscale"

    param_ranges = {"quality": (0, 100)}  # Pillow's JPEG quality scale

    def __init__(self, quality: int = 10) -> None:
        self.quality = quality

    def apply(self, image, label, rng):
        pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        out = np.empty(image.shape, dtype=np.float32)
        for c in range(image.shape[0]):
            for z in range(image.shape[1]):
                buffer = io.BytesIO()
                Image.fromarray(pixels[c, z]).save(buffer, format="JPEG", quality=self.quality)
                buffer.seek(0)
                out[c, z] = np.asarray(Image.open(buffer).convert("L"), dtype=np.float32) / 255
        return out, label
