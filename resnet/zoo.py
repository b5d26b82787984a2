"""Models by name: torchvision's ResNets, ResNeXt, Wide ResNet and DenseNet, and the CIFAR ResNets,
as ResidualNets the probe, the trainer and every view take, optionally from a checkpoint file.

The ImageNet family is He et al. 2015 (Table 1), ResNeXt is Xie et al. 2017, Wide ResNet
Zagoruyko & Komodakis 2016, DenseNet Huang et al. 2017. `cifar_resnetN` is the paper's CIFAR-10
net of Sec. 4.2 in the layout of the widely used PyTorch CIFAR ResNet (conv1, bn1, layer1-3,
linear; option A shortcuts zero-padded equally on both sides), so its checkpoints load and give
the logits of the network they were trained in. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision import models

from resnet.checkpoints import Checkpoint, CheckpointError, fit, read_checkpoint
from resnet.checks import choice, int_in
from resnet.foreign import ForeignNet
from resnet.nets import ResidualNet, cifar_resnet

IMAGENET_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
TORCHVISION_MODELS = (*IMAGENET_RESNETS, "resnext50_32x4d", "wide_resnet50_2", "densenet121")
CIFAR_RESNETS = {"cifar_resnet20": 20, "cifar_resnet32": 32, "cifar_resnet44": 44, "cifar_resnet56": 56,
                 "cifar_resnet110": 110}
MODELS = (*TORCHVISION_MODELS, *CIFAR_RESNETS)
SWITCHABLE = tuple(m for m in MODELS if not m.startswith("densenet"))  # DenseNet's skips are concatenations
CIFAR_ZERO_PAD = "both"  # the layout's option A: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))
MIN_INPUT_SIZE = 32  # DenseNet-121 halves its map 5 times; below 32 a transition pools a 1x1 map to nothing
MAX_INPUT_SIZE = 224  # ImageNet's crop: the largest input the app feeds a model
MAX_CLASSES = 1000


def imagenet_resnet(name: str) -> nn.Module:
    """torchvision's `name` ("resnet18".."resnet152") with random weights: nothing is downloaded."""
    choice("ImageNet ResNet", name, IMAGENET_RESNETS)
    return getattr(models, name)(weights=None)


def parameter_count(model: nn.Module) -> int:
    """Number of parameters in `model`, as the paper and torchvision's tables count them."""
    return sum(p.numel() for p in model.parameters())


def native_input_size(name: str) -> int:
    """The input side a model was designed for: 224 (ImageNet) or 32 (CIFAR-10)."""
    choice("model", name, MODELS)
    return 32 if name in CIFAR_RESNETS else 224


def is_torchvision(name: str) -> bool:
    """Whether `name` is built by torchvision (ImageNet normalisation applies to its inputs)."""
    return choice("model", name, MODELS) in TORCHVISION_MODELS


@dataclass(frozen=True)
class WeightsInfo:
    """Where a zoo model's weights came from and what loading them changed."""

    source: str  # the file's name
    notes: tuple[str, ...] = ()  # quirks undone: legacy format, wrapped dict, prefixes, missing counters
    file_classes: int = 0  # classes of the file's head
    head_replaced: bool = False  # the model's class count differs: its head is freshly initialised
    config: dict | None = field(default=None, repr=False)  # a run file's config


def model(name: str, *, weights: str | os.PathLike | bytes | Checkpoint | None = None,
          num_classes: int | None = None) -> ResidualNet:
    """The zoo model `name` (see MODELS), random or from a checkpoint file, as a ResidualNet.

    `num_classes` None takes the checkpoint's (else 1000 for torchvision, 10 for CIFAR); a
    different count replaces the head with a fresh one (`net.weights_info.head_replaced`).
    """
    choice("model", name, MODELS)
    if num_classes is not None:
        int_in("num_classes", num_classes, 2, MAX_CLASSES)
    if weights is None:
        return _build(name, num_classes or (10 if name in CIFAR_RESNETS else 1000))
    ckpt = weights if isinstance(weights, Checkpoint) else read_checkpoint(weights)
    zero_pad = _check_run_config(name, ckpt)
    state = dict(ckpt.state)
    notes = list(ckpt.notes)
    display = str
    if name in CIFAR_RESNETS:
        n = (CIFAR_RESNETS[name] - 2) // 6
        if "linear.weight" in state or "conv1.weight" in state:
            state, display = _from_cifar_layout(state, n), _cifar_layout_name(n)
            notes.append("PyTorch CIFAR ResNet layout (conv1, bn1, layer1-3, linear)")
    head = _head(name)
    head_key = head + "weight"
    if head_key not in state:
        raise CheckpointError(f"{ckpt.name} does not fit {name}: it has no {display(head_key)!r}")
    file_classes = int(state[head_key].shape[0])
    classes = num_classes or file_classes
    int_in("the checkpoint's number of classes", classes, 2, MAX_CLASSES)
    net = _build(name, classes, zero_pad)
    replaced = classes != file_classes
    skip = (head,) if replaced else ()
    notes += fit(net, state, name=ckpt.name, arch=name, skip=skip, display=display)
    net.weights_info = WeightsInfo(ckpt.name, tuple(notes), file_classes, replaced, ckpt.config)
    return net


def _build(name: str, num_classes: int, zero_pad: str = CIFAR_ZERO_PAD) -> ResidualNet:
    if name in CIFAR_RESNETS:
        return cifar_resnet(CIFAR_RESNETS[name], num_classes=num_classes, zero_pad=zero_pad)
    return ForeignNet(getattr(models, name)(weights=None, num_classes=num_classes), name)


def _head(name: str) -> str:
    """The key prefix of the final classifier in `name`'s state dict."""
    if name in CIFAR_RESNETS:
        return "head.2."
    return "classifier." if name.startswith("densenet") else "fc."


_CIFAR_FIXED = {"family": "cnn", "block": "basic", "shortcut": "A", "preact": False, "norm": "batch", "act": "relu",
                "width": 16}


def _check_run_config(name: str, ckpt: Checkpoint) -> str:
    """A run file's net must be `name`; returns option A's zero-pad placement it was built with."""
    if ckpt.config is None:
        return CIFAR_ZERO_PAD
    spec = ckpt.config.get("model", {})
    arch = spec.get("arch", "")
    if name in CIFAR_RESNETS:
        fixed = {**_CIFAR_FIXED, "depth": CIFAR_RESNETS[name]}
        differs = next((k for k, v in fixed.items() if spec.get(k, v) != v), None)
        if arch or differs:
            what = arch or f"{differs}={spec.get(differs)!r}"
            raise CheckpointError(f"{ckpt.name} holds a run of another net ({what}), not {name}")
        return spec.get("zero_pad", "end")
    if arch != name:
        raise CheckpointError(f"{ckpt.name} holds a run of {arch or 'a CIFAR ResNet'}, not {name}")
    return CIFAR_ZERO_PAD


_LAYER = re.compile(r"^layer([123])\.(\d+)\.(.*)$")
_OURS = re.compile(r"^blocks\.(\d+)\.(.*)$")
_RENAME = {"conv1": "stem.0", "bn1": "stem.1", "linear": "head.2"}


def _from_cifar_layout(state: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """Keys of the PyTorch CIFAR ResNet layout renamed to cifar_resnet's (`n` blocks per stage)."""
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        m = _LAYER.match(key)
        if head in _RENAME:
            key = f"{_RENAME[head]}.{rest}"
        elif m and int(m.group(2)) < n:  # a deeper file keeps its own name and is reported as such
            key = f"blocks.{(int(m.group(1)) - 1) * n + int(m.group(2))}.{m.group(3)}"
        out[key] = value
    return out


def _cifar_layout_name(n: int):
    """A function naming a cifar_resnet key as the PyTorch CIFAR layout does (for messages)."""
    back = {v: k for k, v in _RENAME.items()}

    def name(key: str) -> str:
        head, _, rest = key.partition(".")
        sub, _, rest2 = rest.partition(".")
        if f"{head}.{sub}" in back:
            return f"{back[f'{head}.{sub}']}.{rest2}"
        m = _OURS.match(key)
        return f"layer{int(m.group(1)) // n + 1}.{int(m.group(1)) % n}.{m.group(2)}" if m else key

    return name
