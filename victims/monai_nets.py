"""The victim networks, all from MONAI, each sized by the preset (``small`` for CPUs,
``reference`` for the paper's GPU runs). The UNet victims (``unet``, ``unet2d``: the
reference code's victim architecture) take their activation from the preset's recipe
(``uebench.contracts.recipes``) unless ``act`` names one (``unet:act=relu``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from monai.networks.nets import (
    UNETR,
    AttentionUnet,
    BasicUNetPlusPlus,
    DynUNet,
    SegResNet,
    SwinUNETR,
    UNet,
    VNet,
)
from torch import nn

from uebench.contracts.core import Preset, Victim
from uebench.contracts.registry import register_victim


def _small(preset: Preset) -> bool:
    return preset.victim_scale == "small"


class _Activated(Victim):
    """A victim whose activation is the recipe's, or ``act`` when given."""

    def __init__(self, act: Literal["prelu", "relu"] | None = None) -> None:
        self.act = act

    def activation(self, preset: Preset) -> str:
        """The activation this victim builds with under ``preset`` (MONAI's name)."""
        return (self.act or preset.victim_recipe.activation).upper()

    def describe(self, preset: Preset) -> dict[str, Any]:
        return {**super().describe(preset), "activation": self.activation(preset).lower()}


@register_victim("unet")
class UNetVictim(_Activated):
    """MONAI UNet (residual units, instance norm), as in the reference code's victims."""

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        channels = (16, 32, 64, 128) if _small(preset) else (32, 64, 128, 256, 512)
        return UNet(3, in_channels, n_classes, channels=channels,
                    strides=(2,) * (len(channels) - 1), num_res_units=2, norm="instance",
                    act=self.activation(preset))


@register_victim("swinunetr")
class SwinUNETRVictim(Victim):
    """MONAI SwinUNETR (feature size 48, depths 2-2-2-2; on CPUs 12 and 1-1-1-1)."""

    min_size = 64
    size_multiple = 32

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        if _small(preset):  # 3.5 s instead of 4.7 s per 64^3 step on 2 CPU cores
            return SwinUNETR(in_channels=in_channels, out_channels=n_classes, feature_size=12,
                             depths=(1, 1, 1, 1))
        return SwinUNETR(in_channels=in_channels, out_channels=n_classes, feature_size=48)


@register_victim("unetr")
class UNETRVictim(Victim):
    """MONAI UNETR (ViT encoder, 16^3 patches); a narrower ViT on CPUs."""

    min_size = 32
    size_multiple = 16

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        size = (preset.volume_size,) * 3
        if _small(preset):
            return UNETR(in_channels, n_classes, size, feature_size=8, hidden_size=192,
                         mlp_dim=768, num_heads=4)
        return UNETR(in_channels, n_classes, size)


@register_victim("segresnet")
class SegResNetVictim(Victim):
    """MONAI SegResNet (the BraTS 2018 autoencoder-regularised net, without the VAE branch)."""

    size_multiple = 8
    param_ranges = {"lr": (1e-6, 1.0)}

    def __init__(self, lr: float | None = None) -> None:
        """``lr``: an Adam learning rate of its own instead of the preset's (a deviation the
        victim's spelling shows, ``segresnet:lr=0.001``): at canary-v64's 0.006 SegResNet
        stalls at background (clean-trained DSC 0.000 at seed 0), at 0.001 it learns (0.930)."""
        self.lr = lr

    def learning_rate(self, preset: Preset) -> float:
        return preset.lr if self.lr is None else self.lr

    def describe(self, preset: Preset) -> dict[str, Any]:
        own = {} if self.lr is None else {"lr": self.lr, "deviation": "its own learning rate"}
        return {**super().describe(preset), **own}

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        return SegResNet(spatial_dims=3, in_channels=in_channels, out_channels=n_classes,
                         init_filters=8 if _small(preset) else 16)


@register_victim("dynunet")
class DynUNetVictim(Victim):
    """MONAI DynUNet with nnU-Net's 3D full-resolution topology (4 poolings, 3^3 kernels)."""

    min_size = 32  # four poolings of 16^3 leave a 1-voxel bottleneck instance norm refuses

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        filters = (16, 32, 64, 128, 256) if _small(preset) else (32, 64, 128, 256, 320)
        return DynUNet(3, in_channels, n_classes, kernel_size=[3] * 5,
                       strides=[1, 2, 2, 2, 2], upsample_kernel_size=[2, 2, 2, 2],
                       filters=filters, res_block=True)


@register_victim("attentionunet")
class AttentionUNetVictim(Victim):
    """MONAI AttentionUnet (attention gates on the skip connections)."""

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        channels = (16, 32, 64, 128) if _small(preset) else (32, 64, 128, 256, 512)
        return AttentionUnet(3, in_channels, n_classes, channels=channels,
                             strides=(2,) * (len(channels) - 1))


@register_victim("basicunetplusplus")
class BasicUNetPlusPlusVictim(Victim):
    """MONAI BasicUNetPlusPlus (UNet++ with dense skip paths); returns its last output."""

    min_size = 32  # four poolings of 16^3 leave a 1-voxel bottleneck instance norm refuses

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        features = (8, 8, 16, 32, 64, 8) if _small(preset) else (32, 32, 64, 128, 256, 32)
        return _FirstOutput(BasicUNetPlusPlus(3, in_channels, n_classes, features=features))


@register_victim("vnet")
class VNetVictim(Victim):
    """MONAI VNet (Milletari et al. 2016)."""

    min_size = 32
    size_multiple = 16

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        return VNet(3, in_channels, n_classes, dropout_prob_down=0.0, dropout_prob_up=(0.0, 0.0))


@register_victim("unet2d")
class SliceUNetVictim(_Activated):
    """A 2D MONAI UNet applied to every axial slice: the slice-wise victim (no z context)."""

    spatial_dims: ClassVar[int] = 2

    def build(self, in_channels: int, n_classes: int, preset: Preset) -> nn.Module:
        channels = (16, 32, 64, 128) if _small(preset) else (32, 64, 128, 256, 512)
        net = UNet(2, in_channels, n_classes, channels=channels,
                   strides=(2,) * (len(channels) - 1), num_res_units=2, norm="instance",
                   act=self.activation(preset))
        return SliceWise(net)


class _FirstOutput(nn.Module):
    """Unwraps networks that return a list of (deep-supervision) outputs."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


class SliceWise(nn.Module):
    """Runs a 2D network on each axial slice of ``[B, C, D, H, W]`` and restacks the output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d, h, w = x.shape
        slices = x.permute(0, 2, 1, 3, 4).reshape(b * d, c, h, w)
        out = self.net(slices)
        return out.reshape(b, d, -1, h, w).permute(0, 2, 1, 3, 4)
