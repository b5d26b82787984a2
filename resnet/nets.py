"""The networks: CIFAR-style ResNets (He et al. 2015, Sec. 4.2) and MLP stacks, plain or residual."""

from __future__ import annotations

import torch
from torch import nn

from resnet.blocks import BasicBlock, Bottleneck, MLPBlock, ResidualUnit, conv3x3
from resnet.checks import choice, flag, int_in
from resnet.layers import ACTS, NORMS, activation, norm1d, norm2d
from resnet.shortcuts import SHORTCUTS, ZERO_PADS, make_shortcut

BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
MAX_CNN_DEPTH = {"basic": 218, "bottleneck": 299}  # n = 36 / 33: past ResNet-110/164, within a CPU's reach
MAX_CNN_WIDTH = 64  # the first stage's filters; the paper uses 16
MAX_MLP_DEPTH = 200
MAX_MLP_WIDTH = 1024


class ResidualNet(nn.Module):
    """stem -> blocks -> head, with per-block shortcut switches and an optional record of block inputs."""

    def __init__(self, stem: nn.Module, blocks: list[ResidualUnit], head: nn.Module, *, residual: bool) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.residual = residual
        # When a list, forward appends each block's input and the last block's output to it
        # (B + 1 tensors): the cheapest probe is the network itself, no module hooks. The probe's
        # list hooks the inputs' gradients (resnet.probes).
        self.taps: list[torch.Tensor] | None = None

    def block_names(self) -> list[str]:
        """Readable block names, input to output ("stage1.0", ... or "block0", ...)."""
        return [getattr(b, "label", mlp_block_name(i)) for i, b in enumerate(self.blocks)]

    def set_shortcut(self, i: int | None, on: bool) -> None:
        """Switch the shortcut of block `i` (None: every block); takes effect on the next forward."""
        if not self.residual:
            raise ValueError("a plain net has no shortcuts to switch; build it with residual=True")
        if i is None:
            for block in self.blocks:
                block.shortcut_on = bool(on)
            return
        int_in("block index", i, 0, len(self.blocks) - 1)
        self.blocks[i].shortcut_on = bool(on)

    def shortcuts(self) -> list[bool]:
        """Whether each block's shortcut is on (all False for a plain net)."""
        return [b.shortcut_on for b in self.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        # Only training passes are recorded: evaluation under no_grad must not add rows.
        taps = self.taps if torch.is_grad_enabled() else None
        for block in self.blocks:
            if taps is not None:
                taps.append(x)
            x = block(x)
        if taps is not None:
            taps.append(x)
        return self.head(x)


def valid_cnn_depths(block: str, near: int | None = None, count: int = 2) -> list[int]:
    """Valid depths for `block` (6n+2 basic, 9n+2 bottleneck); with `near`, the closest ones."""
    per_stage = 2 if block == "basic" else 3
    step = 3 * per_stage
    depths = list(range(step + 2, MAX_CNN_DEPTH[block] + 1, step))
    if near is None:
        return depths
    return sorted(sorted(depths, key=lambda d: (abs(d - near), d))[:count])


def check_cnn_depth(depth: int, block: str) -> int:
    """Blocks per stage for a valid CIFAR depth, or a ValueError naming the nearest valid depths."""
    choice("block", block, tuple(BLOCKS))
    int_in("depth", depth, 1, MAX_CNN_DEPTH[block])
    per_stage = 2 if block == "basic" else 3
    if (depth - 2) % (3 * per_stage) or depth < 3 * per_stage + 2:
        form = "6n+2" if block == "basic" else "9n+2"
        near = " or ".join(map(str, valid_cnn_depths(block, depth)))
        raise ValueError(f"depth {depth} is not {form} for {block} blocks; try {near}")
    return (depth - 2) // (3 * per_stage)


def mlp_block_name(index: int) -> str:
    """The name of unit `index` of an MLP stack: "block0", "block1", ..."""
    return f"block{index}"


def cifar_block_name(stage: int, index: int) -> str:
    """The name of block `index` of `stage` (0-based) in a CIFAR net: "stage1.0", "stage2.3", ..."""
    return f"stage{stage + 1}.{index}"


def cifar_block_names(depth: int, block: str = "basic") -> list[str]:
    """Every block name of a CIFAR net of `depth`, without building it."""
    n = check_cnn_depth(depth, block)
    return [cifar_block_name(stage, i) for stage in range(3) for i in range(n)]


def cifar_resnet(depth: int, *, residual: bool = True, block: str = "basic", shortcut: str = "A",
                 preact: bool = False, norm: str = "batch", act: str = "relu", width: int = 16,
                 in_channels: int = 3, num_classes: int = 10, zero_pad: str = "end") -> ResidualNet:
    """The CIFAR-10 family of Sec. 4.2: three stages of `width`, 2x, 4x filters on 32/16/8 maps.

    `zero_pad` places option A's new channels: "end" or "both" (resnet.shortcuts.ZERO_PADS).
    """
    n = check_cnn_depth(depth, block)
    flag("residual", residual)
    flag("preact", preact)
    choice("shortcut", shortcut, SHORTCUTS)
    choice("zero_pad", zero_pad, ZERO_PADS)
    choice("norm", norm, NORMS)
    choice("act", act, ACTS)
    int_in("width", width, 1, MAX_CNN_WIDTH)
    int_in("in_channels", in_channels, 1, 16)
    int_in("num_classes", num_classes, 2, 1000)
    norm_layer = norm2d(norm)
    unit = BLOCKS[block]
    # Pre-activation nets open with a bare conv; their last unit ends un-normalised, so a
    # final BN-ReLU precedes the pooling (He et al. 2016, Fig. 1b).
    stem_layers: list[nn.Module] = [conv3x3(in_channels, width, bias=norm == "none")]
    if not preact:
        stem_layers += [norm_layer(width), activation(act)]
    blocks: list[ResidualUnit] = []
    in_planes = width
    for stage, planes in enumerate((width, 2 * width, 4 * width)):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            out_planes = planes * unit.expansion
            sc = make_shortcut(shortcut, in_planes, out_planes, stride, norm_layer, zero_pad) if residual else None
            b = unit(in_planes, planes, stride, shortcut=sc, preact=preact, norm_layer=norm_layer, act=act)
            b.label = cifar_block_name(stage, i)
            blocks.append(b)
            in_planes = out_planes
    head_layers: list[nn.Module] = [norm_layer(in_planes), activation(act)] if preact else []
    head_layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_planes, num_classes)]
    net = ResidualNet(nn.Sequential(*stem_layers), blocks, nn.Sequential(*head_layers), residual=residual)
    _init_cnn(net)
    return net


def _init_cnn(net: nn.Module) -> None:
    """He (Kaiming) normal init for convolutions, as the paper (Sec. 3.4) and torchvision do."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def mlp_stack(depth: int, *, residual: bool = True, width: int = 64, in_features: int,
              num_classes: int, norm: str = "none", act: str = "tanh", preact: bool = False) -> ResidualNet:
    """`depth` fully connected units of `width` between a linear stem and a linear head.

    PyTorch's default initialisation is kept on purpose: it is what makes the plain tanh stack
    vanish (the lab's measurement: the first block's gradient ~1e-11 of the last's), and what a
    reader's own nn.Linear stack would do.
    """
    int_in("depth", depth, 1, MAX_MLP_DEPTH)
    int_in("width", width, 1, MAX_MLP_WIDTH)
    int_in("in_features", in_features, 1, 1 << 16)
    flag("residual", residual)
    flag("preact", preact)
    int_in("num_classes", num_classes, 2, 1000)
    choice("norm", norm, NORMS)
    choice("act", act, ACTS)
    norm_layer = norm1d(norm)
    stem = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width))
    blocks = [MLPBlock(width, residual=residual, preact=preact, norm_layer=norm_layer, act=act)
              for _ in range(depth)]
    return ResidualNet(stem, blocks, nn.Linear(width, num_classes), residual=residual)
