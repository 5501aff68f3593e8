"""Countermeasures an attacker who knows the data is protected applies (``Defense.kind``):

- data defenses transform each protected training volume (and its label, for slice reordering)
  once, seeded by the run: gaussian, median, zlowpass, slice-shuffle, lowres, quantize, jpeg;
- training-time defenses change every training step of the victim (``Defense.batch_loss``,
  hooked into ``uebench.runner.training.train_segmenter``): gamma, affine, affine-elastic, ueraser,
  adv-train.

``none`` leaves the data and the training as they are. Defenses combine: a run's defense is a
``+``-joined canonical string (``canonical_defense``), data defenses first then training-time
ones, each group in the order given; ``DefenseChain`` applies one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import (
    Compose,
    Rand3DElasticd,
    RandAdjustContrast,
    RandAffined,
    RandBiasField,
    RandGaussianNoise,
    RandHistogramShift,
)
from monai.utils import convert_to_tensor
from PIL import Image
from scipy.ndimage import gaussian_filter, gaussian_filter1d, median_filter
from torch import nn

from uebench.contracts import registry
from uebench.contracts.core import BatchLoss, Defense
from uebench.contracts.registry import register_defense

NONE = "none"
SEPARATOR = "+"


@register_defense("none")
class NoDefense(Defense):
    summary = "train on the data as released"

    def apply(self, image, label, rng):
        return image, label


# --- data defenses: applied once to the protected training set -------------------------------


@register_defense("gaussian")
class GaussianSmoothing(Defense):
    summary = "3D Gaussian smoothing, sigma 1 voxel (separable)"

    def apply(self, image, label, rng):
        return gaussian_filter(image, sigma=(0, 1, 1, 1)).astype(np.float32), label


@register_defense("median")
class MedianFilter(Defense):
    summary = "3D median filter 3^3"

    def apply(self, image, label, rng):
        return median_filter(image, size=(1, 3, 3, 3)).astype(np.float32), label


@register_defense("zlowpass")
class ZLowPass(Defense):
    summary = "1D Gaussian along z only, sigma 1 slice (targets inter-slice structure)"

    def apply(self, image, label, rng):
        return gaussian_filter1d(image, sigma=1.0, axis=1).astype(np.float32), label


@register_defense("slice-shuffle")
class SliceShuffle(Defense):
    summary = "random permutation of the axial slice order (image and label together)"

    def apply(self, image, label, rng):
        order = rng.permutation(image.shape[1])
        return image[:, order].copy(), label[order].copy()


@register_defense("lowres")
class LowResolution(Defense):
    summary = "trilinear down-sampling by 0.5 and back"

    def apply(self, image, label, rng):
        x = torch.from_numpy(image)[None]
        small = F.interpolate(x, scale_factor=0.5, mode="trilinear", align_corners=False)
        back = F.interpolate(small, size=image.shape[1:], mode="trilinear", align_corners=False)
        return back[0].numpy().astype(np.float32), label


@register_defense("quantize")
class BitDepthReduction(Defense):
    summary = "bit-depth reduction to 4 bits (the analogue of ISS grayscale/BDR)"

    bits = 4

    def apply(self, image, label, rng):
        levels = 2**self.bits - 1
        return (np.round(image * levels) / levels).astype(np.float32), label


@register_defense("jpeg")
class JPEGCompression(Defense):
    """ISS's JPEG defense (Liu et al. 2023) on volumes: every axial slice of every channel is
    rounded to 8 bits, JPEG-encoded as a grayscale image at ``quality`` and decoded back."""

    summary = "per-axial-slice, per-channel JPEG at quality 10 (ISS), 8-bit grayscale"

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


# --- training-time defenses: a change to every training step ---------------------------------


class TrainingDefense(Defense):
    """Base of the training-time defenses; ``start(seed)`` seeds their own generators."""

    kind = "training"
    _generator: torch.Generator | None = None

    def apply(self, image, label, rng):
        raise TypeError(f"{self.name} is a training-time defense; it has no data transform")

    def start(self, seed: int) -> None:
        self._generator = torch.Generator().manual_seed(int(seed))
        for transform in self._monai_transforms():
            transform.set_random_state(seed=int(seed) % 2**32)

    def _monai_transforms(self) -> list[Any]:
        return []

    @property
    def generator(self) -> torch.Generator:
        """This defense's torch generator (``start(0)`` when the run has not seeded it)."""
        if self._generator is None:
            self.start(0)
        return self._generator


def _per_sample(x: torch.Tensor, y: torch.Tensor, transform) -> tuple[torch.Tensor, torch.Tensor]:
    """``transform(image [C, D, H, W], label [1, D, H, W]) -> (image, label)`` on each sample."""
    pairs = [transform(x[i], y[i]) for i in range(len(x))]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


@register_defense("gamma")
class RandomGamma(TrainingDefense):
    """MONAI ``RandAdjustContrast``: with probability ``prob`` per volume, intensities are
    rescaled to [0, 1] by the volume's min and max, raised to a gamma drawn uniformly in
    ``gamma`` and mapped back (monotone; the range stays within the volume's [min, max])."""

    summary = "random gamma in [0.7, 1.5] per volume, p 0.5 (MONAI RandAdjustContrast)"

    def __init__(self, gamma: tuple[float, float] = (0.7, 1.5), prob: float = 0.5) -> None:
        self.transform = RandAdjustContrast(prob=prob, gamma=gamma)

    def _monai_transforms(self):
        return [self.transform]

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = [convert_to_tensor(self.transform(x[i]), track_meta=False) for i in range(len(x))]
        return torch.stack(out).to(x.dtype), y

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, *self.augment(x, y))


@register_defense("affine")
class RandomAffine(TrainingDefense):
    """MONAI ``RandAffined`` on image and label together (bilinear for the image, nearest for
    the label, zero padding): with probability ``prob`` per volume, a rotation about each of
    the three axes drawn in +-``rotate_deg`` degrees and a scale per axis drawn in ``scale``
    (MONAI's grid scale factors). ``elastic=True`` uses ``Rand3DElasticd`` instead: the same
    affine plus a smooth elastic deformation (sigma 5-8 voxels, magnitude 100-200)."""

    summary = ("random 3D affine, rotation +-15 deg per axis, scale 0.85-1.25, p 0.5, image and "
               "label together (MONAI RandAffined; nearest for labels)")

    def __init__(self, rotate_deg: float = 15.0, scale: tuple[float, float] = (0.85, 1.25),
                 prob: float = 0.5, elastic: bool = False) -> None:
        self.elastic = elastic
        common = {"keys": ("image", "label"), "prob": prob,
                  "rotate_range": (np.deg2rad(rotate_deg),) * 3,
                  "scale_range": ((scale[0] - 1, scale[1] - 1),) * 3,
                  "mode": ("bilinear", "nearest"), "padding_mode": "zeros"}
        self.transform = (Rand3DElasticd(sigma_range=(5, 8), magnitude_range=(100, 200),
                                         **common)
                          if elastic else RandAffined(**common))

    def _monai_transforms(self):
        return [self.transform]

    def _one(self, image: torch.Tensor, label: torch.Tensor):
        out = self.transform({"image": image, "label": label.float()})
        return (convert_to_tensor(out["image"], track_meta=False).to(image.dtype),
                convert_to_tensor(out["label"], track_meta=False).round().to(label.dtype))

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _per_sample(x, y, self._one)

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, *self.augment(x, y))


@register_defense("affine-elastic")
class RandomAffineElastic(RandomAffine):
    summary = ("affine plus a smooth elastic deformation (MONAI Rand3DElasticd, sigma 5-8, "
               "magnitude 100-200), image and label together")

    def __init__(self, **params: Any) -> None:
        super().__init__(**{**params, "elastic": True})


@register_defense("ueraser")
class UEraser(TrainingDefense):
    """UEraser (Qin et al. 2023, "Learning the Unlearnable"): heavy random augmentation, and
    the loss of each training sample is the largest over ``repeats`` augmented draws of it
    (r = 5, the paper's UEraser-Max). One draw, per volume:

    - a random flip along each spatial axis (p 0.5 each) and a random multiple of 90 degrees in
      the axial plane, of image and label together;
    - MONAI ``RandBiasField`` (degree 3, coefficients 0-0.3, p 0.5): a smooth multiplicative
      field, standing in for the paper's plasma brightness;
    - MONAI ``RandHistogramShift`` (5-10 control points, p 0.5): a random monotone intensity
      curve, standing in for plasma contrast;
    - MONAI ``RandAdjustContrast`` (gamma 0.5-2, p 0.5);
    - MONAI ``RandGaussianNoise`` (std up to 0.05, p 0.5).

    The paper's channel shuffle is left out (MRI modalities are not interchangeable colour
    channels). The draws are scored without gradients; the chosen draw of every sample is then
    run again with gradients, so memory stays that of one draw (for a network whose samples do
    not interact, such as the instance-normed victims, the batch loss is then the mean over
    samples of the per-sample maximum). ``last_draw_losses [B, repeats]`` keeps the scores.
    """

    summary = ("heavy random augmentation (flips, rot90, bias field, histogram shift, gamma, "
               "noise); loss = max over r=5 draws per sample (Qin et al. 2023)")

    def __init__(self, repeats: int = 5) -> None:
        self.repeats = repeats
        self.intensity = Compose([
            RandBiasField(degree=3, coeff_range=(0.0, 0.3), prob=0.5),
            RandHistogramShift(num_control_points=(5, 10), prob=0.5),
            RandAdjustContrast(gamma=(0.5, 2.0), prob=0.5),
            RandGaussianNoise(std=0.05, prob=0.5),
        ])
        self.last_draw_losses: torch.Tensor | None = None

    def _monai_transforms(self):
        return [self.intensity]

    def draw(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One augmented draw of a one-sample batch ``x [1, C, D, H, W]``, ``y [1, 1, ...]``."""
        from uebench.methods.rem import random_flip

        x, y = random_flip(x, y, self.generator)
        if x.shape[-1] == x.shape[-2]:
            k = int(torch.randint(4, (), generator=self.generator))
            x, y = torch.rot90(x, k, dims=(-2, -1)), torch.rot90(y, k, dims=(-2, -1))
        image = convert_to_tensor(self.intensity(x[0]), track_meta=False).to(x.dtype)
        return image[None].contiguous(), y.contiguous()

    def batch_loss(self, model, x, y, loss_fn):
        chosen_x, chosen_y, scores = [], [], []
        for i in range(len(x)):
            draws = [self.draw(x[i : i + 1], y[i : i + 1]) for _ in range(self.repeats)]
            with torch.no_grad():
                losses = torch.stack([loss_fn(model, xd, yd).detach() for xd, yd in draws])
            best = int(losses.argmax())
            chosen_x.append(draws[best][0])
            chosen_y.append(draws[best][1])
            scores.append(losses)
        self.last_draw_losses = torch.stack(scores)
        return loss_fn(model, torch.cat(chosen_x), torch.cat(chosen_y))


@register_defense("adv-train")
class AdversarialTraining(TrainingDefense):
    """Madry et al.'s PGD adversarial training of the victim: each batch is replaced by the
    point ``x + delta``, ``|delta|_inf <= radius`` (4/255), found by ``steps`` (5) signed
    ascent steps of ``2.5 * radius / steps`` on the loss from a uniform random start (REM's
    ``adversarial_delta``), and the step minimises the loss there. The point stays within
    ``[min(0, min x), max(1, max x)]`` (the victim's intensity augmentation may leave [0, 1]):
    for a batch in [0, 1] that is the usual clamp to [0, 1]. The ascent runs with the victim in
    training mode."""

    summary = ("PGD adversarial training (Madry): L-inf radius 4/255, 5 signed steps of "
               "2.5r/5 from a random start")

    def __init__(self, radius: float = 4 / 255, steps: int = 5) -> None:
        self.radius = radius
        self.steps = steps

    def adversarial(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: BatchLoss) -> torch.Tensor:
        """The PGD-ascent batch, within ``radius`` of ``x``."""
        from uebench.methods.rem import adversarial_delta

        x = x.detach()
        low = torch.clamp(x.min(), max=0.0)
        span = torch.clamp(x.max(), min=1.0) - low
        unit = (x - low) / span  # in [0, 1], where adversarial_delta clamps
        delta = adversarial_delta(lambda v: low + span * v,  # back to x's units
                                  lambda v, label: loss_fn(model, v, label),
                                  unit, y, self.radius / float(span), self.steps,
                                  self.generator)
        return (low + span * (unit + delta).clamp(0, 1)).detach()

    def batch_loss(self, model, x, y, loss_fn):
        return loss_fn(model, self.adversarial(model, x, y, loss_fn), y)


# --- combinations ------------------------------------------------------------------------------


def defense_names(defenses: str | Iterable[str]) -> list[str]:
    """``"zlowpass+affine"`` or ``["zlowpass", "affine"]`` (as repeated ``--defense`` gives) ->
    ``["zlowpass", "affine"]``; blanks dropped."""
    items = [defenses] if isinstance(defenses, str) else list(defenses)
    return [name.strip() for item in items for name in item.split(SEPARATOR) if name.strip()]


def canonical_defense(defenses: str | Iterable[str]) -> str:
    """The canonical spelling of a (combined) defense: every name checked (an unknown one is an
    ``UnknownNameError`` naming the close matches), data defenses first, then training-time
    ones, each group in the order given, joined by ``+``; ``"none"`` for no defense."""
    names = defense_names(defenses)
    if not names or names == [NONE]:
        return NONE
    if NONE in names:
        raise ValueError(f"defense {NONE!r} cannot be combined with others: "
                         f"{SEPARATOR.join(names)!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"defense {', '.join(repeated)} given more than once")
    kinds = {name: getattr(registry.defenses.get(name), "kind", "data") for name in names}
    for name, kind in kinds.items():
        if kind not in ("data", "training"):
            raise ValueError(f"defense {name!r} has kind {kind!r}; expected 'data' or 'training'")
    ordered = ([n for n in names if kinds[n] == "data"]
               + [n for n in names if kinds[n] == "training"])
    return SEPARATOR.join(ordered)


class DefenseChain:
    """A run's defenses, from a canonical string: ``apply`` runs the data defenses in order
    on one volume; ``hook`` (None without training-time defenses) is the ``batch_loss`` of the
    training-time ones, the first outermost (it sees the batch first and its ``loss_fn`` is
    the next one's ``batch_loss``, the last one's is the victim's DiceCE)."""

    def __init__(self, spec: str = NONE) -> None:
        canonical = canonical_defense(spec)
        if canonical != spec:
            raise ValueError(f"defense {spec!r} is not in canonical form; write {canonical!r} "
                             "(data defenses first, then training-time ones, joined by '+')")
        self.spec = canonical
        parts = [] if canonical == NONE else [registry.defenses.get(n)() for n in
                                              canonical.split(SEPARATOR)]
        self.data: list[Defense] = [d for d in parts if getattr(d, "kind", "data") == "data"]
        self.training: list[Defense] = [d for d in parts if d not in self.data]

    def apply(self, image: np.ndarray, label: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        for defense in self.data:
            image, label = defense.apply(image, label, rng)
        return image, label

    def start(self, seed: int) -> None:
        """Seed every training-time defense, each from its own stream of ``seed``."""
        for position, defense in enumerate(self.training):
            state = np.random.SeedSequence([seed, 2, position]).generate_state(1)[0]
            defense.start(int(state))

    def batch_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   loss_fn: BatchLoss) -> torch.Tensor:
        def step(position: int) -> BatchLoss:
            if position == len(self.training):
                return loss_fn
            return lambda m, xb, yb: self.training[position].batch_loss(m, xb, yb,
                                                                        step(position + 1))

        return step(0)(model, x, y)

    @property
    def hook(self):
        return self.batch_loss if self.training else None


def defense_origins(spec: str) -> dict[str, dict[str, Any]]:
    """``registry.origins`` for each defense of a (combined) canonical string: key
    ``defense`` for a single one, ``defense:NAME`` for each part of a combination."""
    names: Sequence[str] = [] if spec == NONE else spec.split(SEPARATOR)
    if len(names) <= 1:
        return registry.origins(defense=spec)
    found = {f"defense:{name}": registry.defenses.origin(name) for name in names}
    return {key: origin for key, origin in found.items() if origin is not None}
