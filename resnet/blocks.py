"""Residual units: the basic and bottleneck blocks (post- or pre-activation) and the MLP unit.

Every unit computes y = F(x) + shortcut(x) (eq. 1 of He et al. 2015). A plain unit has no
shortcut; a residual unit's shortcut can be switched off, which makes it compute exactly what
the plain unit computes with the same weights. `response*` are named taps (identities) at each
layer's response after normalisation and before the addition/activation, for Fig. 7.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from resnet.layers import activation


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """3x3 convolution with padding, as torchvision's."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=bias)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """1x1 convolution, as torchvision's."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=bias)


class ResidualUnit(nn.Module, metaclass=abc.ABCMeta):
    """The shared skeleton: F, an optional shortcut, and where the activation sits."""

    expansion = 1

    def __init__(self, shortcut: nn.Module | None, preact: bool, act: str, pre_width: int, norm_layer) -> None:
        super().__init__()
        self.preact = preact
        self.shortcut = shortcut
        self.shortcut_on = shortcut is not None
        # Pre-activation (He et al. 2016) normalises and activates before F, and the
        # projection sees that pre-activated input; identity shortcuts see the raw x.
        self.pre = nn.Sequential(norm_layer(pre_width), activation(act)) if preact else nn.Identity()
        self.post = nn.Identity() if preact else activation(act)
        self._project_pre = preact and isinstance(shortcut, nn.Sequential)

    @abc.abstractmethod
    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): the residual function of the unit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre(x)
        out = self.residual(pre)
        if self.shortcut_on:
            out = out + self.shortcut(pre if self._project_pre else x)
        return self.post(out)


class BasicBlock(ResidualUnit):
    """Two 3x3 convolutions (Fig. 2 / Fig. 5 left of He et al. 2015)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, *, shortcut: nn.Module | None,
                 preact: bool, norm_layer, act: str) -> None:
        super().__init__(shortcut, preact, act, in_planes, norm_layer)
        bias = norm_layer is not nn.BatchNorm2d
        self.conv1 = conv3x3(in_planes, planes, stride, bias)
        self.bn1 = norm_layer(planes)
        self.act1 = activation(act)
        self.conv2 = conv3x3(planes, planes, 1, bias)
        # Post-activation: bn2 closes F. Pre-activation: `pre` opens layer 1 and bn1 layer 2, so
        # a bn2 would never run (and would carry parameters that get no gradient).
        self.bn2 = nn.Identity() if preact else norm_layer(planes)
        self.response1 = nn.Identity()
        self.response2 = nn.Identity()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            out = self.response1(self.conv1(x))
            return self.response2(self.conv2(self.act1(self.bn1(out))))
        out = self.act1(self.response1(self.bn1(self.conv1(x))))
        return self.response2(self.bn2(self.conv2(out)))


class Bottleneck(ResidualUnit):
    """1x1 reduce, 3x3, 1x1 expand by 4 (Fig. 5 right of He et al. 2015)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int, *, shortcut: nn.Module | None,
                 preact: bool, norm_layer, act: str) -> None:
        super().__init__(shortcut, preact, act, in_planes, norm_layer)
        bias = norm_layer is not nn.BatchNorm2d
        width = planes * self.expansion
        self.conv1 = conv1x1(in_planes, planes, 1, bias)
        self.bn1 = norm_layer(planes)
        self.act1 = activation(act)
        self.conv2 = conv3x3(planes, planes, stride, bias)
        self.bn2 = norm_layer(planes)
        self.act2 = activation(act)
        self.conv3 = conv1x1(planes, width, 1, bias)
        # Pre-activation: bn1/bn2 open layers 2/3 and bn3 is not needed: `pre` opens layer 1.
        self.bn3 = nn.Identity() if preact else norm_layer(width)
        self.response1 = nn.Identity()
        self.response2 = nn.Identity()
        self.response3 = nn.Identity()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            out = self.response1(self.conv1(x))
            out = self.response2(self.conv2(self.act1(self.bn1(out))))
            return self.response3(self.conv3(self.act2(self.bn2(out))))
        out = self.act1(self.response1(self.bn1(self.conv1(x))))
        out = self.act2(self.response2(self.bn2(self.conv2(out))))
        return self.response3(self.bn3(self.conv3(out)))


class MLPBlock(ResidualUnit):
    """A fully connected unit, y = x + act(norm(W x + b)); pre-activation: y = x + W act(norm(x)) + b.

    The activation sits inside F (no activation after the sum), as in a residual MLP written by
    hand: with the shortcut off it is exactly the plain layer act(norm(W x + b)).
    """

    def __init__(self, width: int, *, residual: bool, preact: bool, norm_layer, act: str) -> None:
        super().__init__(nn.Identity() if residual else None, preact, act, width, norm_layer)
        self.post = nn.Identity()
        self.fc = nn.Linear(width, width)
        self.norm = nn.Identity() if preact else norm_layer(width)
        self.act1 = nn.Identity() if preact else activation(act)
        self.response1 = nn.Identity()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.response1(self.norm(self.fc(x))))
