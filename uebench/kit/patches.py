"""Patches of cases at their own grid, for methods that fit on a native preset: seeded patch
locations centred on foreground or background voxels with equal probability (MONAI's
``generate_pos_neg_label_crop_centers``, the sampler behind ``RandCropByPosNegLabeld``, which
victims train with), so a method can crop several aligned tensors (image, stored delta, ROI
mask) at one location and write back into it; and the sliding-window application of a fully
convolutional network over a whole volume (MONAI ``sliding_window_inference``). A method's
training set on either grid (``WholeVolumes``, ``NativePatches``) gives batches and reads and
writes a per-case store of deltas the same way."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.transforms.utils import generate_pos_neg_label_crop_centers, map_binary_to_indices

from uebench.kit.surrogates import batches

Window = tuple[slice, slice, slice]


def pad_to(volume: torch.Tensor, size: int) -> torch.Tensor:
    """``volume [..., D, H, W]`` zero-padded at the end of each axis shorter than ``size``."""
    pads = []
    for n in reversed(volume.shape[-3:]):
        pads += [0, max(0, size - n)]
    return F.pad(volume, pads) if any(pads) else volume


class PatchSampler:
    """Seeded ``size``^3 patch windows of one set of cases (labels ``[D, H, W]``, each at least
    ``size`` per axis: pad them with :func:`pad_to` first)."""

    def __init__(self, labels: list[torch.Tensor], size: int, seed: int) -> None:
        self.size = size
        self.shapes = [tuple(label.shape) for label in labels]
        self.indices = [map_binary_to_indices(label.cpu().numpy() > 0) for label in labels]
        self.rng = np.random.RandomState(seed % 2**32)

    def window(self, case: int) -> Window:
        """One patch window of case ``case``: centred on a foreground voxel with probability
        1/2, else on a background voxel, moved inside the volume."""
        fg, bg = self.indices[case]
        (centre,) = generate_pos_neg_label_crop_centers(
            (self.size,) * 3, 1, 0.5, self.shapes[case], fg, bg, self.rng)
        return tuple(slice(int(c) - self.size // 2, int(c) - self.size // 2 + self.size)
                     for c in centre)


def crop(volumes: list[torch.Tensor], cases: list[int], windows: list[Window]) -> torch.Tensor:
    """The batch ``[B, ...]`` of ``volumes[case][..., window]`` for each case and window."""
    return torch.stack([volumes[c][(..., *w)] for c, w in zip(cases, windows)])


def sliding_apply(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                  size: int) -> torch.Tensor:
    """``network`` applied to ``x [B, C, D, H, W]`` window by window (``size``^3, overlap 0.25,
    Gaussian blending), as the network saw patches in training: the output over the whole
    volume."""
    return sliding_window_inference(x, (size,) * 3, 1, network, overlap=0.25, mode="gaussian")


@dataclass
class Batch:
    """One batch of a method's training set: images, labels ``[B, 1, ...]`` (long) and ROI
    masks, the indices of its cases and, on the native grid, the patch window of each."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None
    cases: torch.Tensor
    windows: list[Window] | None = None


class WholeVolumes:
    """The cube grid's training set: stacked ``[N, ...]`` tensors; a batch is whole volumes."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 masks: torch.Tensor | None = None) -> None:
        self.images, self.labels, self.masks = images, labels, masks

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def batch(self, cases: torch.Tensor) -> Batch:
        mask = None if self.masks is None else self.masks[cases]
        return Batch(self.images[cases], self.labels[cases], mask, cases)

    def sweep(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Every volume once, in seeded random batches."""
        for cases in batches(len(self), batch_size, generator):
            yield self.batch(cases.to(self.device))

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        """Every volume once, in order (no random draw)."""
        for first in range(0, len(self), batch_size):
            yield self.batch(torch.arange(first, min(first + batch_size, len(self)),
                                          device=self.device))

    def zeros(self) -> torch.Tensor:
        """A per-case store of deltas, zero."""
        return torch.zeros_like(self.images)

    def read(self, store: torch.Tensor, batch: Batch) -> torch.Tensor:
        return store[batch.cases]

    def write(self, store: torch.Tensor, batch: Batch, values: torch.Tensor) -> None:
        store[batch.cases] = values


class NativePatches:
    """The native grid's training set: one tensor per case (padded to the patch edge where it
    is smaller); a batch is one seeded patch (``PatchSampler``) of each of its cases, so a
    method trains on patches and its per-case store is read and written at their windows."""

    def __init__(self, images: list[torch.Tensor], labels: list[torch.Tensor],
                 masks: list[torch.Tensor] | None, size: int, seed: int) -> None:
        self.size = size
        self.images = [pad_to(x, size) for x in images]
        self.labels = [pad_to(y, size) for y in labels]
        self.masks = None if masks is None else [pad_to(m, size) for m in masks]
        self.sampler = PatchSampler([y[0] for y in self.labels], size, seed)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images[0].device

    def batch(self, cases: torch.Tensor) -> Batch:
        """One seeded patch of each of ``cases``."""
        return self._at(cases, [self.sampler.window(c) for c in cases.tolist()])

    def _at(self, cases: torch.Tensor, windows: list[Window]) -> Batch:
        indices = cases.tolist()
        mask = None if self.masks is None else crop(self.masks, indices, windows)
        return Batch(crop(self.images, indices, windows), crop(self.labels, indices, windows),
                     mask, cases, windows)

    def tiles(self) -> list[tuple[int, Window]]:
        """Windows of the patch edge that cover every voxel of every case (a regular grid of
        starts, the last one flush with the volume's end)."""
        found = []
        for case, image in enumerate(self.images):
            starts = [sorted({*range(0, n - self.size, self.size), n - self.size})
                      for n in image.shape[-3:]]
            found += [(case, tuple(slice(a, a + self.size) for a in corner))
                      for corner in itertools.product(*starts)]
        return found

    def _tile_batch(self, tiles: list[tuple[int, Window]]) -> Batch:
        cases = torch.tensor([case for case, _ in tiles])
        return self._at(cases, [window for _, window in tiles])

    def sweep(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Every voxel of every case at least once: the tiles in seeded random batches."""
        tiles = self.tiles()
        for order in batches(len(tiles), batch_size, generator):
            yield self._tile_batch([tiles[i] for i in order.tolist()])

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        """The tiles in order (no random draw)."""
        tiles = self.tiles()
        for first in range(0, len(tiles), batch_size):
            yield self._tile_batch(tiles[first : first + batch_size])

    def zeros(self) -> list[torch.Tensor]:
        return [torch.zeros_like(x) for x in self.images]

    def read(self, store: list[torch.Tensor], batch: Batch) -> torch.Tensor:
        return crop(store, batch.cases.tolist(), batch.windows)

    def write(self, store: list[torch.Tensor], batch: Batch, values: torch.Tensor) -> None:
        for value, case, window in zip(values, batch.cases.tolist(), batch.windows):
            store[case][(..., *window)] = value
