"""VoxShield (arXiv 2605.17345): frequency-aware inter-slice disruption, in both readings.

Objective minimised per batch (the authors' code; ../shared/spec/voxshield.md):

    L = DiceCE(f_s(x + delta), y) - lambda_z * Zdiv(delta)
        - lambda_l * mean|f_s(x + delta) - f_s(x)|

i.e. error-minimising noise with two maximised regularisers: the L2 distance between the 2D
amplitude spectra of adjacent axial slices of delta (``zdiv``), and the mean absolute change of
the surrogate's logits (``semantic_disruption``).

- ``voxshield`` (the authors' reading): a 3D UNet generator G gives
  ``delta = clamp(tanh(G(x)) * eps * M, -eps, eps)`` with M the foreground ROI; every epoch an
  S-step (surrogate trained on x + stored deltas) and an N-step (one Adam step of G per batch,
  surrogate frozen, then the batch's deltas stored). After ``fit`` it protects unseen cases.
- ``voxshield-pgd`` (the project card's "FFT/PGD core"): each case's delta is optimised directly
  by signed-gradient steps on the same L, projected to the eps-ball and the ROI, in the same
  alternating schedule. Random start, uniform in the eps-ball on the ROI (as PGD).

Two schedules (``schedule``; its default is the preset's recipe's, ``uebench.contracts.
recipes``): ``reference`` (the ``authors`` recipe, ``paper``) runs the reference's fixed
``max_surrogate_updates / s_steps`` epochs at ``generator_ratio`` (3.6) generator steps per
surrogate step, generator lr 1e-4, uniform noise as the first stored deltas, and protects each
training case with its stored delta (its generator's output right after its own batch's
update, last epoch). ``fit-rule`` (every other recipe) stops when the surrogate's train
foreground DSC on the perturbed data reaches ``fit_dsc`` (``uebench.kit.surrogates.FIT_RULE``,
at most ``max_surrogate_updates`` S-step updates), one N-step pass per epoch, and protects with
the final generator. Every epoch's record row logs the stored deltas' saturation: the share of
ROI voxels at the bound (|delta| >= 0.99 eps), their mean |delta| / eps and the share whose
sign flipped since the last epoch. ``lambda_z_area_scaled`` (an ablation, off by default)
weighs Zdiv by 160^2 / (H x W), as it weighs at the reference's 160^3.

Deviations, also written in every record: on a smaller training set the reference schedule's
generator ratio takes several N-step passes per epoch (the reference's is one pass over
BraTS19's train + val); the ``quick`` preset narrows the surrogate and raises its learning
rate (and, under the fit rule, the generator's) so something is learnt in minutes on 2 CPU
cores; the ``paper`` preset uses the reference values. Logging reads device tensors once per
epoch (the reference runs extra generator and surrogate passes per step just to log).

On a native preset (cases at their own grid) ``voxshield`` fits on patches and protects by
sliding-window application of G (``NATIVE_DEVIATION``, written into those records);
``voxshield-pgd`` keeps one delta tensor per stacked volume and is refused there.

What was measured with it (protocols 1-3, the surrogate's slow start under the authors' ReLU,
the generator's saturation) is in docs/studies/surrogates.md and leaderboards/recipe/.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from uebench.contracts.core import Case, Method, Preset, RunContext
from uebench.contracts.params import ParameterError
from uebench.contracts.recipes import SCHEDULES
from uebench.contracts.registry import register_method
from uebench.kit.patches import NativePatches, WholeVolumes, pad_to, sliding_apply
from uebench.kit.spectra import zdiv
from uebench.kit.surrogates import (
    FIT_RULE,
    FIT_RULE_RANGES,
    Surrogate,
    autocast,
    batches,
    case_tensors,
    fit_rule_params,
    foreground_dice,
    max_iterations,
    parse_channels,
    surrogate_state,
    to_memory_format,
    unet,
)
from uebench.runner.training import seed_everything


def semantic_disruption(logits_perturbed: torch.Tensor, logits_clean: torch.Tensor) -> torch.Tensor:
    """Mean absolute logit change over ``[B, K, D, H, W]``, clean logits taken as constant."""
    return (logits_perturbed.float() - logits_clean.detach().float()).abs().mean()


def objective(seg_loss: torch.Tensor, delta: torch.Tensor, logits_perturbed: torch.Tensor,
              logits_clean: torch.Tensor, lambda_z: float, lambda_l: float) -> torch.Tensor:
    """The full VoxShield loss (minimised)."""
    return (seg_loss - lambda_z * zdiv(delta)
            - lambda_l * semantic_disruption(logits_perturbed, logits_clean))


def roi_mask(labels: torch.Tensor, mode: str) -> torch.Tensor:
    """ROI ``[B, 1, D, H, W]`` from labels: ``hard`` = (label > 0); ``soft`` = max-pool dilation
    twice with 3^3, Gaussian blur sigma 2, normalised to max 1 (per case)."""
    hard = (labels > 0).float()
    if mode == "hard":
        return hard
    if mode != "soft":
        raise ValueError(f"roi must be 'hard' or 'soft'; got {mode!r}")
    dilated = F.max_pool3d(F.max_pool3d(hard, 3, 1, 1), 3, 1, 1)
    radius = 6
    grid = torch.arange(-radius, radius + 1, device=labels.device, dtype=torch.float32)
    kernel = torch.exp(-(grid**2) / (2 * 2.0**2))
    kernel = kernel / kernel.sum()
    soft = dilated
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = -1
        padding = [0, 0, 0]
        padding[axis] = radius
        soft = F.conv3d(soft, kernel.view(shape), padding=tuple(padding))
    peak = soft.flatten(1).amax(1).clamp(min=1e-8).view(-1, 1, 1, 1, 1)
    return soft / peak


# The reference's slice area (160^3 volumes): ``lambda_z_area_scaled`` weighs Zdiv as it
# weighs there (Zdiv grows with the slice area of the unnormalised FFT).
REFERENCE_SLICE_AREA = 160 * 160
# Within this fraction of eps, a voxel's delta counts as at the bound (saturation logging).
AT_BOUND = 0.99


def saturation(stored: torch.Tensor | list[torch.Tensor], previous: list[torch.Tensor] | None,
               masks: torch.Tensor | list[torch.Tensor], epsilon: float
               ) -> tuple[dict[str, float], list[torch.Tensor]]:
    """How saturated and how settled the stored deltas are, over the ROI voxels (mask > 0) of
    every case and channel: the share at the bound (|delta| >= 0.99 eps), the mean
    |delta| / eps, and the share whose sign flipped since ``previous`` (the last epoch's
    signs; None in the first epoch). Returns the row and the signs to compare next time."""
    at_bound = magnitude = flipped = voxels = 0.0
    signs = []
    for index, (delta, mask) in enumerate(zip(stored, masks)):
        roi = (mask > 0).expand_as(delta)
        values = delta[roi].float()
        sign = torch.sign(values).to(torch.int8)
        signs.append(sign)
        at_bound += (values.abs() >= AT_BOUND * epsilon).sum().item()
        magnitude += values.abs().sum().item() / epsilon
        if previous is not None:
            flipped += (sign != previous[index]).sum().item()
        voxels += values.numel()
    voxels = max(voxels, 1.0)
    row = {"roi_at_bound": at_bound / voxels, "roi_mean_abs_over_eps": magnitude / voxels,
           "roi_sign_flipped": None if previous is None else flipped / voxels}
    return row, signs


NATIVE_DEVIATION = (
    "Native grid (a native preset): the reference trains on whole 160^3 volumes; here the "
    "S-step and the N-step take one patch of the preset's patch edge per case (centred on "
    "foreground or background with equal probability), the stored delta of each case is "
    "updated at its patch, and a fitted G protects a whole case by sliding-window "
    "application (windows of the patch edge, overlap 0.25, Gaussian blending)."
)


class VoxShieldBase(Method):
    """The alternating S-step / N-step schedule both readings share."""

    norm = "linf"
    conformance_params = {"max_surrogate_updates": 2, "s_steps": 2,
                          "surrogate_channels": "8-16-32", "channels_last": False}
    deviations = (
        "schedule fit-rule (the default of every recipe but 'authors'): epochs (reference: a "
        "fixed 100) follow the shared " + FIT_RULE + "; an epoch is s_steps surrogate updates "
        "and one N-step pass over the training cases. schedule reference (the 'authors' "
        "recipe): the reference's fixed max_surrogate_updates / s_steps epochs, "
        "generator_ratio generator steps per surrogate step (3.6, the reference's on BraTS19) "
        "in passes over the protected cases, uniform noise as the first stored deltas, each "
        "case's stored delta (after its own batch's update) as its protection. quick preset: "
        "surrogate 16-128 instead of 32-512 channels, surrogate lr 2e-3 (reference 5e-4) and, "
        "under the fit rule, generator lr 1e-3 (reference 1e-4), batch 2; paper preset: "
        "reference values. No extra logging passes."
    )

    param_ranges = {**FIT_RULE_RANGES, "lambda_z": (0.0, None), "lambda_l": (0.0, None),
                    "s_steps": (1, None), "batch_size": (1, None), "surrogate_lr": (0.0, None),
                    "surrogate_weight_decay": (0.0, None)}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        paper = preset.name == "paper"
        return {
            "lambda_z": 0.2,
            "lambda_l": 0.05,
            "lambda_z_area_scaled": False,
            "roi": "hard",
            **fit_rule_params(preset),
            "schedule": preset.victim_recipe.schedule,
            "s_steps": 10,
            "batch_size": 8 if paper else 2,
            "surrogate_channels": "32-64-128-256-512" if paper else "16-32-64-128",
            "surrogate_lr": 5e-4 if paper else 2e-3,
            "surrogate_weight_decay": 5e-4,
            "amp": True,
            "channels_last": True,
        }

    def __init__(self, epsilon: float, preset: Preset, **overrides: Any) -> None:
        super().__init__(epsilon, preset, **overrides)
        if self.params["schedule"] not in SCHEDULES:
            raise ParameterError(f"method {self.name!r} parameter schedule expects one of "
                                 f"{', '.join(map(repr, SCHEDULES))}; got "
                                 f"{self.params['schedule']!r}")

    @property
    def reference_schedule(self) -> bool:
        """Whether the authors' fixed-epoch schedule runs (else the shared fit rule)."""
        return self.params["schedule"] == "reference"

    def generator_steps(self, batches_per_pass: int) -> int:
        """N-step batches per epoch: one pass over the cases, or under the reference schedule
        ``generator_ratio`` x ``s_steps`` when that is more (the reference's one pass over
        BraTS19's train + val at batch 8 is about 36 steps to its 10 S-steps; a smaller set
        needs several passes for that ratio). A method without a ratio (the PGD reading)
        takes one pass."""
        ratio = self.params.get("generator_ratio")
        if not self.reference_schedule or ratio is None:
            return batches_per_pass
        return max(batches_per_pass, round(ratio * self.params["s_steps"]))

    def fit(self, train_cases: list[Case], ctx: RunContext) -> None:
        p = self.params
        seed_everything(ctx.seed)
        generator = torch.Generator().manual_seed(ctx.seed)
        data = self._training_set(train_cases, ctx)
        self.case_index = {c.id: i for i, c in enumerate(train_cases)}
        surrogate = Surrogate(3, ctx.in_channels, ctx.n_classes,
                              parse_channels(p["surrogate_channels"]), p["surrogate_lr"],
                              ctx.device, act="RELU", weight_decay=p["surrogate_weight_decay"],
                              amp=p["amp"], channels_last=p["channels_last"])
        self._setup(data, ctx, generator)
        self.history: list[dict[str, float]] = []
        signs = None
        bar = tqdm(range(max_iterations(p["s_steps"], p)), desc=f"{self.name}: fitting",
                   disable=not ctx.progress, leave=False)
        for epoch in bar:
            s_losses = []
            for _ in range(p["s_steps"]):
                batch = data.batch(torch.randint(len(data), (p["batch_size"],),
                                                 generator=generator))
                x = (batch.x + data.read(self.stored, batch)).clamp(0, 1)
                s_losses.append(surrogate.step(x, batch.y))
            terms = []
            with surrogate.frozen() as model:
                for idx in self._n_batches(len(data), generator):
                    terms.append(self._n_step(model, surrogate.loss_fn,
                                              data.batch(idx.to(ctx.device)), data))
            means = torch.stack([torch.stack(t) for t in terms]).mean(0).tolist()
            settled, signs = saturation(self.stored, signs, data.masks, self.epsilon)
            row = {"epoch": epoch + 1, "surrogate_loss": torch.stack(s_losses).mean().item(),
                   "seg_loss": means[0], "zdiv": means[1], "logit_term": means[2],
                   "surrogate_train_dsc": means[3], "generator_steps": len(terms), **settled}
            self.history.append(row)
            bar.set_postfix(dsc=f"{row['surrogate_train_dsc']:.2f}", z=f"{row['zdiv']:.2f}")
            if not self.reference_schedule and row["surrogate_train_dsc"] >= p["fit_dsc"]:
                break
        self.fitted_surrogate = surrogate_state(surrogate.updates, row["surrogate_train_dsc"], p,
                                                p["schedule"])

    def _n_batches(self, n: int, generator: torch.Generator) -> list[torch.Tensor]:
        """The epoch's N-step batches: seeded passes over the ``n`` cases, cut after
        ``generator_steps`` batches (the last pass may be partial)."""
        found: list[torch.Tensor] = []
        steps = None
        while steps is None or len(found) < steps:
            one_pass = batches(n, self.params["batch_size"], generator)
            steps = self.generator_steps(len(one_pass)) if steps is None else steps
            found += one_pass
        return found[:steps]

    def _training_set(self, cases: list[Case], ctx: RunContext) -> WholeVolumes | NativePatches:
        """Whole volumes on the cube grid; on a native preset, each case at its own grid,
        batched as one seeded patch of the preset's patch edge per case."""
        mode = self.params["roi"]
        if not ctx.preset.native:
            images, labels = case_tensors(cases, ctx.device)
            return WholeVolumes(images, labels, roi_mask(labels, mode))
        images = [torch.from_numpy(c.image).to(ctx.device) for c in cases]
        labels = [torch.from_numpy(c.label.astype(np.int64))[None].to(ctx.device)
                  for c in cases]
        masks = [roi_mask(y[None], mode)[0] for y in labels]
        return NativePatches(images, labels, masks, ctx.preset.volume_size, ctx.seed)

    def _losses(self, surrogate: nn.Module, loss_fn: nn.Module, x: torch.Tensor,
                y: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """L and its logged terms for one batch (one clean and one perturbed surrogate pass)."""
        amp = self.params["amp"]
        with torch.no_grad(), autocast(x.device, amp):
            clean_logits = surrogate(x)
        with autocast(x.device, amp):
            logits = surrogate((x + delta).clamp(0, 1))
            seg = loss_fn(logits, y)
        z = zdiv(delta)
        logit_term = semantic_disruption(logits, clean_logits)
        loss = seg - self.lambda_z(delta) * z - self.params["lambda_l"] * logit_term
        logged = [seg.detach(), z.detach(), logit_term.detach(),
                  foreground_dice(logits.detach(), y)]
        return loss, logged

    def lambda_z(self, delta: torch.Tensor) -> float:
        """The z-term's weight: ``lambda_z``, or with ``lambda_z_area_scaled`` (an ablation,
        off by default) ``lambda_z`` x 160^2 / (H x W), so that Zdiv weighs against DiceCE as
        it does at the reference's 160^3."""
        if not self.params["lambda_z_area_scaled"]:
            return self.params["lambda_z"]
        return self.params["lambda_z"] * REFERENCE_SLICE_AREA / (delta.shape[-1]
                                                                 * delta.shape[-2])

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.preset.native:  # only there, so the cube's descriptions (cache keys) stand
            described["deviations"] += " " + NATIVE_DEVIATION
        described["history"] = getattr(self, "history", [])
        if hasattr(self, "fitted_surrogate"):  # after fit only: the unfitted form is a cache key
            described["surrogate"] = self.fitted_surrogate
        return described

    def _setup(self, data, ctx, generator) -> None:
        raise NotImplementedError

    def _n_step(self, surrogate, loss_fn, batch, data) -> list[torch.Tensor]:
        raise NotImplementedError


@register_method("voxshield")
class VoxShield(VoxShieldBase):
    """VoxShield, authors' reading: a 3D UNet generator of ROI-masked, tanh-bounded noise."""

    summary = "VoxShield (generator): min DiceCE - z-spectrum and logit disruption"
    supports_native = True

    param_ranges = {**VoxShieldBase.param_ranges, "generator_lr": (0.0, None),
                    "generator_weight_decay": (0.0, None), "generator_ratio": (0.0, None)}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        reference = preset.name == "paper" or preset.victim_recipe.schedule == "reference"
        return {**super().default_params(preset),
                "generator_channels": "16-32-64-128",
                "generator_lr": 1e-4 if reference else 1e-3,
                "generator_weight_decay": 1e-5,
                "generator_ratio": 3.6}

    def _setup(self, data, ctx, generator) -> None:
        p = self.params
        torch.manual_seed(ctx.seed)
        self.generator = to_memory_format(
            unet(ctx.in_channels, ctx.in_channels, parse_channels(p["generator_channels"]), 1,
                 act="LEAKYRELU"), ctx.device, p["channels_last"])
        self.g_optimiser = torch.optim.Adam(self.generator.parameters(), lr=p["generator_lr"],
                                            weight_decay=p["generator_weight_decay"])
        self.stored = data.zeros()
        if self.reference_schedule:  # the reference's first S-step: uniform noise everywhere
            uniform = [(torch.rand(d.shape, generator=generator) * 2 - 1) * self.epsilon
                       for d in self.stored]
            for delta, noise in zip(self.stored, uniform):
                delta.copy_(noise.to(delta.device))

    def _generate(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``tanh(G(x)) * eps * M``. The spec's (and the reference's) clamp to ``[-eps, eps]``
        is the identity here (``|tanh| <= 1``, ``0 <= M <= 1``, and rounding is monotonic),
        so it is not computed."""
        with autocast(x.device, self.params["amp"]):
            raw = self.generator(x)
        return torch.tanh(raw.float()) * (self.epsilon * mask)

    def _n_step(self, surrogate, loss_fn, batch, data) -> list[torch.Tensor]:
        self.generator.train()
        self.g_optimiser.zero_grad(set_to_none=True)
        loss, logged = self._losses(surrogate, loss_fn, batch.x, batch.y,
                                    self._generate(batch.x, batch.mask))
        loss.backward()
        self.g_optimiser.step()
        with torch.no_grad():
            data.write(self.stored, batch, self._generate(batch.x, batch.mask))
        return logged

    @torch.no_grad()
    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        """G's delta for ``case``: on the whole volume (cube grid), or on a native preset by
        sliding-window application of G over the case's own grid, window by window as G was
        trained on patches."""
        if self.reference_schedule and case.id in self.case_index:  # the stored delta
            return self.stored[self.case_index[case.id]].float().cpu().numpy()
        self.generator.eval()
        x, y = case_tensors([case], ctx.device)
        mask = roi_mask(y, self.params["roi"])
        if not ctx.preset.native:
            return self._generate(x, mask)[0].float().cpu().numpy()
        size, shape = ctx.preset.volume_size, x.shape[2:]
        with autocast(x.device, self.params["amp"]):
            raw = sliding_apply(self.generator, pad_to(x, size), size)
        raw = raw[(..., *(slice(0, n) for n in shape))]
        return (torch.tanh(raw.float()) * (self.epsilon * mask))[0].cpu().numpy()


@register_method("voxshield-pgd")
class VoxShieldPGD(VoxShieldBase):
    """VoxShield, the card's reading: per-case deltas by signed-gradient (PGD) steps on L."""

    summary = "VoxShield (PGD): per-case signed steps on the same objective"

    param_ranges = {**VoxShieldBase.param_ranges, "pgd_steps": (1, None),
                    "step_fraction": (0.0, 1.0)}

    @classmethod
    def default_params(cls, preset: Preset) -> dict[str, Any]:
        paper = preset.name == "paper"
        return {**super().default_params(preset),
                "pgd_steps": 1 if paper else 3,
                "step_fraction": 0.1 if paper else 0.25}

    def _setup(self, data, ctx, generator) -> None:
        start = torch.rand(data.images.shape, generator=generator).to(data.images.device)
        self.stored = (start * 2 - 1) * self.epsilon * data.masks

    def _n_step(self, surrogate, loss_fn, batch, data) -> list[torch.Tensor]:
        step = self.params["step_fraction"] * self.epsilon
        delta = data.read(self.stored, batch)
        for _ in range(self.params["pgd_steps"]):
            delta = delta.detach().requires_grad_(True)
            loss, logged = self._losses(surrogate, loss_fn, batch.x, batch.y, delta)
            (gradient,) = torch.autograd.grad(loss, delta)
            bound = self.epsilon * batch.mask
            delta = torch.maximum(torch.minimum(delta - step * gradient.sign(), bound), -bound)
            delta = delta.detach()
        data.write(self.stored, batch, delta)
        return logged

    def perturb(self, case: Case, ctx: RunContext) -> np.ndarray:
        if case.id not in self.case_index:
            raise ValueError(f"voxshield-pgd optimises deltas per training case; {case.id!r} "
                             "was not in fit (use 'voxshield' to protect unseen cases)")
        return self.stored[self.case_index[case.id]].float().cpu().numpy()
