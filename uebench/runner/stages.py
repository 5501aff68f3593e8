"""What identifies each stage of a run, in one place.

A run's stages are its dataset, its protection, the clean-trained victim and the
protected-trained victim (then the record, assembled from them). ``INPUTS`` says which spec
fields each stage depends on. From it come both identities a stage has:

- ``stage_id``: which stages of a grid are the same work (the sweep computes each once);
- ``protection_key`` and ``victim_key``: the content-addressed keys the pipeline caches a
  stage's output under, hashed from the resolved form of the same inputs (the data fingerprint
  for ``dataset`` + ``preset``, the method's description for ``method`` + ``method_params`` +
  ``epsilon``, the network's architecture for ``victim``). Their values are part of every
  existing cache: changing what they hash recomputes every stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from uebench.contracts import registry
from uebench.contracts.core import Method, Preset
from uebench.contracts.presets import get_preset
from uebench.runner.store import stable_hash
from uebench.runner.training import TRAINING_VERSION

if TYPE_CHECKING:
    from uebench.runner.pipeline import RunSpec

STAGES = ("data", "protect", "clean_victim", "protected_victim")

_PROTECTION = ("dataset", "preset", "seed", "method", "method_params", "epsilon")
INPUTS: dict[str, tuple[str, ...]] = {
    "data": ("dataset", "preset"),
    "protect": _PROTECTION,
    "clean_victim": ("dataset", "preset", "seed", "victim"),
    "protected_victim": (*_PROTECTION, "victim", "defense"),
    "record": (*_PROTECTION, "victim", "defense"),
}


# Preset fields only the victims read: a protection is the same work under presets that
# differ in these alone (the scale study's epoch axis, the recipe walk's steps). Methods read
# the preset through their defaults (``default_params``), which the method's description in
# the key holds.
VICTIM_ONLY = ("name", "epochs", "lr", "weight_decay", "batch_size", "victim_scale", "recipe",
               "iterations_per_epoch", "test_dsc_every")


def protection_preset(preset: Preset) -> dict[str, Any]:
    """What a protection depends on in ``preset``: its fields less ``VICTIM_ONLY``, and which
    splits it covers (``train``, or ``train+val`` where the recipe protects the val split)."""
    fields = {k: v for k, v in preset.to_dict().items() if k not in VICTIM_ONLY}
    return {**fields, "covers": "train+val" if preset.victim_recipe.protects_val else "train"}


def stage_id(stage: str, spec: RunSpec) -> tuple[str, str]:
    """``(stage, hash of the spec fields the stage depends on)``: two specs with the same id
    for a stage share that stage's output (a protection: the preset as
    ``protection_preset`` sees it)."""
    if stage not in INPUTS:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(INPUTS)}")
    values = {name: getattr(spec, name) for name in INPUTS[stage]}
    if stage == "protect":  # the preset as the protection sees it, and its method's defaults
        preset = get_preset(spec.preset)
        values["preset"] = protection_preset(preset)
        if spec.method in registry.methods.names():
            values["defaults"] = registry.methods.get(spec.method).default_params(preset)
    return stage, stable_hash(values)


def protection_key(data_fp: str, method: Method, seed: int, preset: Preset) -> str:
    """Cache key of a protection stage: data, unfitted method's description, seed and the
    preset as the protection sees it (``protection_preset``)."""
    return stable_hash({"data": data_fp, "method": method.describe(), "seed": seed,
                        "preset": protection_preset(preset)})


def victim_key(data_fp: str, victim: str, model: nn.Module, preset: Preset, seed: int,
               trained_on: dict[str, Any]) -> str:
    """Cache key of a victim stage: data, victim name and architecture, training code version,
    preset, seed and ``trained_on`` (the protection's key, or None for clean data or a
    protection that changes no voxel, and the defense, or None)."""
    return stable_hash({"data": data_fp, "victim": victim, "architecture": str(model),
                        "training": TRAINING_VERSION, "preset": preset.to_dict(),
                        "seed": seed, "training_set": trained_on})
