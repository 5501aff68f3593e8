"""What an attacker who reads a release from its files sees of a protected training volume.

A release written by ``uebench protect`` keeps every voxel that is 0 in the clean file at 0
(the reader's z-score runs over the non-zero voxels and pins the rest to 0), and the attacker's
reader z-scores each channel of the protected file with that file's own mean and spread (MONAI's
``NormalizeIntensity(nonzero=True)``, as the ``decathlon`` reader and nnU-Net do). The harness's
in-memory path applies the delta after normalisation and never re-normalises, so a delta that
shifts or widens a channel's intensities (em widens the spread over the brain by 11-34 %,
``benchmarks/release_delta_agreement.py``) reaches the in-memory victim whole but the reader
divides that part back out. ``reread`` gives the in-memory volume the reader's view; the
``renormalise`` defense (``defenses/attacker.py``, its ``Defense.read`` hook) trains the victim
on it. ``reread_within`` adds the other step between a method's delta and a release: the
writer of ``uebench protect`` shrinks each channel's delta until the re-normalised file lies
within eps of the re-normalised clean file (``uebench.custodian.budget_fit``); here without
the writer's integer rounding, so that a run isolates the shrink (``renormalise:budget=true``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Z_CLIP = 5.0  # the readers' z-score clip, +-5, mapped to [0, 1]
FIT_ROUNDS = 64  # shrink rounds per channel, as the writer's (budget_fit.FIT_ROUNDS)


def reread(protected: np.ndarray, clean: np.ndarray, zscored: Sequence[bool]) -> np.ndarray:
    """``protected [C, ...]`` (normalised, in [0, 1]) as the reader normalises it from a file:
    for each z-scored channel, the voxels that are 0 in ``clean`` stay 0 and the rest are
    z-scored again with their own mean and population std (in the z units the [0, 1] map stands
    for, clipped to +-5, mapped back to [0, 1]); a channel the reader maps with a fixed window
    (CT) is read as it is. Because a z-score is affine invariant, z-scoring the normalised
    values equals z-scoring the raw file up to the clean volume's own clip at +-5."""
    if len(zscored) != len(protected):
        raise ValueError(f"reread: {len(zscored)} channel kinds for {len(protected)} channels")
    out = np.array(protected, dtype=np.float32, copy=True)
    for c, by_zscore in enumerate(zscored):
        if not by_zscore:
            continue
        inside = clean[c] != 0
        out[c][~inside] = 0.0
        if not inside.any():
            continue
        z = protected[c][inside].astype(np.float64) * (2 * Z_CLIP) - Z_CLIP
        spread = z.std()
        z = (z - z.mean()) / (spread if spread > 0 else 1.0)
        out[c][inside] = (np.clip(z, -Z_CLIP, Z_CLIP) + Z_CLIP) / (2 * Z_CLIP)
    return out


def reread_within(protected: np.ndarray, clean: np.ndarray, zscored: Sequence[bool],
                  epsilon: float) -> tuple[np.ndarray, list[float]]:
    """The reader's view of ``protected`` after the writer's shrink: per z-scored channel the
    delta ``protected - clean`` is scaled by a factor (1 first, then ``eps / measured`` per
    round, as ``budget_fit.protect_channel`` does) until ``reread`` of it moves no voxel more
    than ``epsilon`` from ``reread`` of the clean volume. Returns the view and each channel's
    factor (1.0 for a channel read as it is); ValueError when ``FIT_ROUNDS`` rounds do not
    get there."""
    if len(zscored) != len(protected):
        raise ValueError(f"reread: {len(zscored)} channel kinds for {len(protected)} channels")
    out = np.array(protected, dtype=np.float32, copy=True)
    factors = [1.0] * len(protected)
    for c, by_zscore in enumerate(zscored):
        if not by_zscore:
            continue
        base = reread(clean[c:c + 1], clean[c:c + 1], [True])
        delta = protected[c:c + 1].astype(np.float32) - clean[c:c + 1]
        factor = 1.0
        for _ in range(FIT_ROUNDS):
            view = reread(clean[c:c + 1] + np.float32(factor) * delta, clean[c:c + 1], [True])
            moved = float(np.abs(view - base).max())
            if moved <= epsilon * (1 + 1e-6):
                out[c], factors[c] = view[0], factor
                break
            factor *= epsilon / moved * (1 - 1e-3)
        else:
            raise ValueError(f"reread_within: channel {c} still moves {moved * 255:.3f}/255 "
                             f"after {FIT_ROUNDS} shrink rounds (eps {epsilon * 255:.3f}/255)")
    return out, factors


def zscored_channels(modalities: Sequence[str], n_channels: int) -> list[bool]:
    """Which channels a reader z-scores: every one but CT (a fixed HU window); a dataset that
    names no modalities is read as z-scored."""
    if not modalities:
        return [True] * n_channels
    return [m.upper() != "CT" for m in modalities]
