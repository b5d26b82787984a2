"""The ImageNet family of He et al. 2015 (Table 1), as torchvision builds it, without weights."""

from __future__ import annotations

from torch import nn
from torchvision import models

from resnet.checks import choice

IMAGENET_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def imagenet_resnet(name: str) -> nn.Module:
    """torchvision's `name` ("resnet18".."resnet152") with random weights: nothing is downloaded."""
    choice("ImageNet ResNet", name, IMAGENET_RESNETS)
    return getattr(models, name)(weights=None)


def parameter_count(model: nn.Module) -> int:
    """Number of parameters in `model`, as the paper and torchvision's tables count them."""
    return sum(p.numel() for p in model.parameters())
