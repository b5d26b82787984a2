"""torchvision's ResNet, ResNeXt, Wide ResNet and DenseNet as ResidualNets the probe and trainer take.

The adapter adopts the torchvision model's own modules (so its parameter names, state dicts and
checkpoints stay torchvision's) and runs the model's own forward. Blocks are found by type and
named by module path ("layer3.4"). Block inputs are recorded by forward pre-hooks into the
model's taps, as `ResidualNet`'s forward records them for our nets: the probe reduces them as
backward passes, with no host sync per block.

Shortcut switches: a torchvision block becomes a subclass of its own class whose forward reads
`shortcut_on`; off, it computes relu(F(x)), neither identity nor downsample. DenseNet's skip is a
concatenation (Huang et al. 2017): removing it would change the channels every later layer
takes, so a DenseNet is probed but not switched. Its dense blocks keep their concatenated state
as one tensor, so each dense layer's input is a tensor whose gradient the probe can take.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import densenet, resnet

from resnet.nets import ResidualNet


class SwitchableBasicBlock(resnet.BasicBlock):
    """torchvision's BasicBlock with a shortcut switch: y = relu(F(x) + shortcut(x)), or relu(F(x))."""

    shortcut_on = True

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): conv-BN-ReLU-conv-BN."""
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def skip(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut: identity, or the block's downsample projection."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.shortcut_on:
            out = out + self.skip(x)
        return self.relu(out)


class SwitchableBottleneck(resnet.Bottleneck):
    """torchvision's Bottleneck (ResNet-50+, ResNeXt, Wide ResNet) with a shortcut switch."""

    shortcut_on = True

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): 1x1 reduce, 3x3 (grouped in ResNeXt), 1x1 expand, each with BN, ReLU between."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    skip = SwitchableBasicBlock.skip
    forward = SwitchableBasicBlock.forward


class DenseState(densenet._DenseBlock):
    """torchvision's dense block, its concatenated features kept as one tensor between its layers.

    torchvision passes each layer the list of earlier features and concatenates inside the layer;
    here the concatenation happens between layers. The values are the same; the state entering
    each layer is now a tensor, so its gradient dL/dx (the sum over every later reader) exists.
    """

    def forward(self, init_features: torch.Tensor) -> torch.Tensor:
        state = init_features  # (B, C0, H, W)
        for layer in self.values():
            state = torch.cat([state, layer(state)], 1)  # (B, C0 + k * growth, H, W)
        return state


SWITCHABLE = {resnet.BasicBlock: SwitchableBasicBlock, resnet.Bottleneck: SwitchableBottleneck}
DENSE_BLOCKS = (densenet._DenseLayer, densenet._Transition)


def _adopt(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], nn.Module, bool]:
    """Switchable classes on `model`'s blocks; returns (path, block) input to output, the module whose
    output is the last block's output, and whether the blocks can be switched."""
    blocks: list[tuple[str, nn.Module]] = []
    end = None
    dense = False
    for path, m in model.named_modules():
        if type(m) in SWITCHABLE:
            # Same attributes, same parameters: only the forward changes, so the class can.
            m.__class__ = SWITCHABLE[type(m)]
            m.shortcut_on = True
            blocks.append((path, m))
            end = m
        elif type(m) is densenet._DenseBlock:
            m.__class__ = DenseState
            end, dense = m, True
        elif isinstance(m, DENSE_BLOCKS):
            # A dense layer's concatenation is its skip; a transition has none.
            m.shortcut_on = isinstance(m, densenet._DenseLayer)
            blocks.append((path, m))
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no blocks of a known type "
                         "(torchvision BasicBlock, Bottleneck, or DenseNet layers)")
    return blocks, end, not dense


class ForeignNet(ResidualNet):
    """A torchvision model behind ResidualNet's interface: .blocks, block_names(), taps, switches."""

    def __init__(self, model: nn.Module, arch: str) -> None:
        # ResidualNet's own __init__ would register a stem, blocks and a head; here the foreign
        # model's children are registered under their own names, so state dicts stay torchvision's.
        nn.Module.__init__(self)
        blocks, end, switchable = _adopt(model)
        for name, child in model.named_children():
            self.add_module(name, child)
        # Unregistered, so neither appears twice in parameters() or the state dict.
        object.__setattr__(self, "_net", model)
        object.__setattr__(self, "blocks", nn.ModuleList([b for _, b in blocks]))
        self.arch = arch
        self.residual = True
        self.switchable = switchable
        self._names = [path for path, _ in blocks]
        self.taps: list[torch.Tensor] | None = None
        self._recording: list[torch.Tensor] | None = None
        for block in self.blocks:
            block.register_forward_pre_hook(self._record_input)
        end.register_forward_hook(self._record_output)

    def block_names(self) -> list[str]:
        """Module paths of the blocks, input to output ("layer1.0", ... or "features.denseblock1.denselayer1")."""
        return list(self._names)

    def set_shortcut(self, i: int | None, on: bool) -> None:
        """Switch the shortcut of block `i` (None: every block); takes effect on the next forward."""
        if not self.switchable:
            raise ValueError(f"{self.arch} has no shortcut switches: DenseNet's skips are concatenations, and "
                             "removing one changes the channels every later layer takes")
        super().set_shortcut(i, on)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Only training passes are recorded: evaluation under no_grad must not add rows.
        self._recording = self.taps if torch.is_grad_enabled() else None
        try:
            return self._net(x)
        finally:
            self._recording = None

    def _record_input(self, module: nn.Module, args: tuple) -> None:
        if self._recording is not None:
            self._recording.append(args[0])

    def _record_output(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if self._recording is not None:
            self._recording.append(out)
