"""Device choice: CUDA, then Apple MPS, then CPU, unless the user names one."""

from __future__ import annotations

import torch

from resnet.checks import choice

DEVICES = ("auto", "cuda", "mps", "cpu")


def available_devices() -> list[str]:
    """Devices this machine can train on, best first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for `name` ("auto" picks the best available); refuses one that is absent."""
    choice("device", name, DEVICES)
    have = available_devices()
    if name == "auto":
        return torch.device(have[0])
    if name not in have:
        raise ValueError(f"device {name!r} is not available here; available: {', '.join(have)}")
    return torch.device(name)
