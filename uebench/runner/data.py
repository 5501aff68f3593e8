"""Dataset resolution, fingerprints, cached generation and the seeded split (the preset's sizes,
else 70/15/15; a preset's ``split_pool`` grows the training split around fixed val and test)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uebench.contracts import registry
from uebench.contracts.core import Case, Dataset, Preset
from uebench.runner.store import StageCache, stable_hash

DATA_SEED = 0
SPLIT_SEED = 42
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


def resolve_dataset(spec: str) -> Dataset:
    """A dataset from its name, or ``name:ARGUMENT`` for parametrised ones (``decathlon:PATH``)."""
    name, _, argument = spec.partition(":")
    cls = registry.datasets.get(name)
    if argument:
        return cls(argument)
    try:
        return cls()
    except TypeError:
        raise ValueError(f"dataset {name!r} needs an argument: {name}:ARGUMENT") from None


def fingerprint(dataset: Dataset, preset: Preset, seed: int = DATA_SEED) -> str:
    """Identifies the cases a dataset yields under a preset: part of every cache key. The
    native grid names itself (and its target spacing) instead of the cube's edge; a cube
    preset's fingerprint is what it always was."""
    if preset.native:
        return stable_hash({"dataset": dataset.identity(), "grid": "native",
                            "spacing": preset.target_spacing, "n": preset.n_cases,
                            "seed": seed})
    return stable_hash(
        {"dataset": dataset.identity(), "size": preset.volume_size, "n": preset.n_cases,
         "seed": seed}
    )


@dataclass
class Split:
    train: list[Case]
    val: list[Case]
    test: list[Case]


def split_cases(cases: list[Case], sizes: tuple[int, int, int] | None = None,
                seed: int = SPLIT_SEED, pool: int | None = None) -> Split:
    """Shuffle with ``seed`` and cut into ``sizes`` (train, val, test) counts, or 70/15/15 when
    ``sizes`` is None (at least one case in val and test). With ``pool`` (and ``sizes``) only
    the first ``pool`` cases are shuffled and cut, as ``sizes`` less the cases after the pool
    from training; those cases then join the training split in order, so val and test are
    those of the first ``pool`` cases cut alone."""
    if len(cases) < 3:
        raise ValueError(f"a dataset needs at least 3 cases to split; got {len(cases)}")
    if sizes is not None and sum(sizes) > len(cases):
        raise ValueError(f"the split {sizes} needs {sum(sizes)} cases; the dataset has "
                         f"{len(cases)}")
    if pool is not None and (sizes is None or not sum(sizes[1:]) <= pool <= sum(sizes)):
        raise ValueError(f"a split pool of {pool} cases needs split sizes whose val and test "
                         f"fit in it; got {sizes}")
    pooled, added = (cases, []) if pool is None else (cases[:pool], cases[pool:sum(sizes)])
    order = np.random.default_rng(seed).permutation(len(pooled))
    shuffled = [pooled[i] for i in order]
    if sizes is None:
        n_val = max(1, round(len(cases) * SPLIT_FRACTIONS[1]))
        n_test = max(1, round(len(cases) * SPLIT_FRACTIONS[2]))
        n_train = len(cases) - n_val - n_test
    else:
        n_train, n_val, n_test = sizes
        n_train -= len(added)
    return Split(shuffled[:n_train] + added, shuffled[n_train : n_train + n_val],
                 shuffled[n_train + n_val : n_train + n_val + n_test])


def load_cases(dataset: Dataset, preset: Preset, cache: StageCache,
               seed: int = DATA_SEED) -> list[Case]:
    """The dataset's cases under ``preset``, generated on first use and cached as ``.npz``;
    another ``seed`` is another cohort of a generated dataset (the ``pretrained`` defense's).
    The cases come back as ``StoredCase``s: a case's voxels are read from the cache when a
    stage uses them, so a run holds the cases it works on, not the whole cohort."""
    key = fingerprint(dataset, preset, seed)
    path = cache.path("datasets", key, "npz")
    if not path.exists():
        cache.put_arrays("datasets", key, _pack(dataset.build(preset, seed)))
    with np.load(path) as stored:
        ids, spacings = stored["ids"], [stored[f"spacing_{i}"] for i in range(len(stored["ids"]))]
    return [StoredCase(str(case_id), path, i, tuple(float(s) for s in spacings[i]))
            for i, case_id in enumerate(ids)]


class StoredCase(Case):
    """A case of the dataset cache whose image and label stay on disk until read: each read
    decompresses that one array, and the array is kept (a weak reference) only while a caller
    holds it, so a loop over cases holds one case at a time and a stage that keeps its
    training cases reads each once."""

    def __init__(self, case_id: str, path: Path, index: int,
                 spacing: tuple[float, float, float]) -> None:
        self.id, self.spacing = case_id, spacing
        self._path, self._index = path, index
        self._held: dict[str, weakref.ref] = {}

    @property
    def image(self) -> np.ndarray:
        return self._read("image")

    @property
    def label(self) -> np.ndarray:
        return self._read("label")

    def _read(self, kind: str) -> np.ndarray:
        held = self._held.get(kind)
        array = held() if held is not None else None
        if array is None:
            with np.load(self._path) as stored:
                array = stored[f"{kind}_{self._index}"]
            self._held[kind] = weakref.ref(array)
        return array

    def __repr__(self) -> str:
        return f"StoredCase({self.id!r}, {self._path.name}[{self._index}])"


def _pack(cases: list[Case]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"ids": np.array([c.id for c in cases])}
    for i, case in enumerate(cases):
        arrays[f"image_{i}"] = case.image.astype(np.float32, copy=False)
        arrays[f"label_{i}"] = case.label.astype(np.uint8, copy=False)
        arrays[f"spacing_{i}"] = np.asarray(case.spacing, dtype=np.float64)
    return arrays


def preset_split(cases: list[Case], preset: Preset) -> Split:
    """The preset's (train, val, test) counts, cut from its ``split_pool``, when the dataset
    has that many cases (the generated datasets always do); 70/15/15 for a smaller local
    folder. The record keeps the
    counts used."""
    if preset.split and sum(preset.split) <= len(cases):
        return split_cases(cases, preset.split, pool=preset.split_pool)
    return split_cases(cases)
