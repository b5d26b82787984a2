"""Choices of normalisation and activation, named as the user names them."""

from __future__ import annotations

from torch import nn

from resnet.checks import choice

NORMS = ("batch", "none")
ACTS = ("relu", "tanh", "sigmoid")

_ACTS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def norm2d(norm: str) -> type[nn.Module]:
    """The 2-D normalisation layer class for `norm` ("none" keeps the layer slot as an identity)."""
    choice("norm", norm, NORMS)
    return nn.BatchNorm2d if norm == "batch" else _Identity


def norm1d(norm: str) -> type[nn.Module]:
    """The 1-D normalisation layer class for `norm`."""
    choice("norm", norm, NORMS)
    return nn.BatchNorm1d if norm == "batch" else _Identity


def activation(act: str) -> nn.Module:
    """A fresh activation module; never in-place, so hooked tensors stay intact."""
    return _ACTS[choice("act", act, ACTS)]()


class _Identity(nn.Identity):
    """An identity that accepts a normalisation layer's width argument."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
