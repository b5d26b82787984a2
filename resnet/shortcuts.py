"""Shortcut connections of He et al. 2015, options A, B and C, chosen by one argument."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resnet.checks import choice

SHORTCUTS = ("A", "B", "C")
# Where option A's zero channels go: after the old ones ("end", this lab's nets), or split equally
# before and after them ("both", the widely used PyTorch CIFAR ResNet, whose checkpoints need it).
ZERO_PADS = ("end", "both")


class ZeroPadShortcut(nn.Module):
    """Option A on a shape change: subsample by the stride and zero-pad the new channels (no parameters)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, zero_pad: str = "end") -> None:
        super().__init__()
        choice("zero_pad", zero_pad, ZERO_PADS)
        self.stride = stride
        self.pad = out_planes - in_planes
        self.zero_pad = zero_pad
        before = self.pad // 2 if zero_pad == "both" else 0
        self._channels = (before, self.pad - before)  # zeros before and after the old channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, *self._channels))  # (B, C + pad, H/s, W/s)


def projection(in_planes: int, out_planes: int, stride: int, norm_layer: type[nn.Module]) -> nn.Sequential:
    """A 1x1 convolution and its normalisation: the W_s x of eq. (2), as torchvision's `downsample`."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        norm_layer(out_planes),
    )


def make_shortcut(
    option: str, in_planes: int, out_planes: int, stride: int, norm_layer: type[nn.Module], zero_pad: str = "end"
) -> nn.Module:
    """The shortcut a block uses under `option`: identity, zero-padding (A) or projection (B, C).

    `zero_pad` places option A's new channels ("end" or "both"); the other options ignore it.
    """
    changes_shape = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and changes_shape):
        return projection(in_planes, out_planes, stride, norm_layer)
    if option == "A" and changes_shape:
        if out_planes < in_planes:
            raise ValueError("option A cannot shrink channels; use shortcut 'B' or 'C'")
        return ZeroPadShortcut(in_planes, out_planes, stride, zero_pad)
    return nn.Identity()
