"""The networks: the paper's parameter counts, every variant's shapes, twins and shortcut switches."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from resnet.nets import ResidualNet, cifar_resnet, mlp_stack
from resnet.shortcuts import ZeroPadShortcut
from resnet.trainer import copy_matching
from resnet.zoo import IMAGENET_RESNETS, imagenet_resnet, parameter_count

# He et al. 2015, Table 6 (option A, BN, FC bias): exact counts of the CIFAR-10 family.
CIFAR_COUNTS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}
# torchvision's builders, weights=None (the ImageNet family of Table 1).
IMAGENET_COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                   "resnet101": 44_549_160, "resnet152": 60_192_808}
TINY_DEPTH = {"basic": 8, "bottleneck": 11}  # n = 1: one unit per stage


def tiny_cnn(block: str = "basic", shortcut: str = "A", residual: bool = True, **kw) -> ResidualNet:
    """The smallest CIFAR-style net of a kind: one unit per stage, 2/4/8 filters."""
    return cifar_resnet(TINY_DEPTH[block], residual=residual, block=block, shortcut=shortcut, width=2, **kw)


def tiny_mlp(residual: bool = True, **kw) -> ResidualNet:
    """A four-unit MLP stack on 6 features."""
    return mlp_stack(4, residual=residual, width=8, in_features=6, num_classes=3, **kw)


@pytest.mark.parametrize("residual", [True, False], ids=["residual", "plain"])
@pytest.mark.parametrize("depth", sorted(CIFAR_COUNTS))
def test_cifar_parameter_counts_match_the_paper(depth: int, residual: bool) -> None:
    assert parameter_count(cifar_resnet(depth, residual=residual)) == CIFAR_COUNTS[depth]


@pytest.mark.parametrize("name", IMAGENET_RESNETS)
def test_imagenet_parameter_counts_match_torchvision(name: str) -> None:
    with torch.device("meta"):  # shapes only: no memory, no time spent on random init
        net = imagenet_resnet(name)
    assert parameter_count(net) == IMAGENET_COUNTS[name]


def test_unknown_imagenet_resnet_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet18, resnet34, resnet50, resnet101, resnet152"):
        imagenet_resnet("resnet200")


VARIANTS = list(itertools.product(("basic", "bottleneck"), ("A", "B", "C"), (False, True),
                                  ("batch", "none"), ("relu", "tanh", "sigmoid")))


@pytest.mark.parametrize(("block", "shortcut", "preact", "norm", "act"), VARIANTS,
                         ids=["-".join(map(str, v)) for v in VARIANTS])
def test_every_cnn_variant_runs_forward_and_backward(block, shortcut, preact, norm, act) -> None:
    torch.manual_seed(0)
    for residual in (True, False):
        net = tiny_cnn(block, shortcut, residual, preact=preact, norm=norm, act=act, in_channels=1,
                       num_classes=5)
        x = torch.randn(2, 1, 8, 8)
        out = net(x)
        assert out.shape == (2, 5)
        out.square().sum().backward()
        assert torch.isfinite(out).all()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())
        assert len(net.blocks) == 3 and net.residual is residual


@pytest.mark.parametrize(("preact", "norm", "act"),
                         list(itertools.product((False, True), ("batch", "none"), ("relu", "tanh", "sigmoid"))))
def test_every_mlp_variant_runs_forward_and_backward(preact, norm, act) -> None:
    torch.manual_seed(0)
    for residual in (True, False):
        net = tiny_mlp(residual, preact=preact, norm=norm, act=act)
        out = net(torch.randn(5, 6))
        assert out.shape == (5, 3)
        out.sum().backward()
        assert torch.isfinite(out).all()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_stages_halve_the_map_and_double_the_filters() -> None:
    net = tiny_cnn()
    shapes = []
    x = net.stem(torch.randn(1, 3, 16, 16))
    for block in net.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(2, 16, 16), (4, 8, 8), (8, 4, 4)]
    assert net.block_names() == ["stage1.0", "stage2.0", "stage3.0"]


def test_bottleneck_expands_by_four() -> None:
    net = tiny_cnn("bottleneck")
    assert [b.conv3.out_channels for b in net.blocks] == [8, 16, 32]
    assert net.head[-1].in_features == 32


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_projection_shortcuts_add_parameters_and_plain_has_none(block: str) -> None:
    # Two units per stage, so that B projects only where the shape changes and C everywhere.
    depth = {"basic": 14, "bottleneck": 20}[block]
    counts = {s: parameter_count(cifar_resnet(depth, block=block, shortcut=s, width=2)) for s in ("A", "B", "C")}
    assert counts["A"] < counts["B"] < counts["C"]
    plain = cifar_resnet(depth, block=block, residual=False, width=2)
    assert all(b.shortcut is None and not b.shortcut_on for b in plain.blocks)
    assert not any(isinstance(m, ZeroPadShortcut) for m in plain.modules())
    assert not any(name.split(".")[-1] == "shortcut" for name, _ in plain.named_modules())
    assert plain.shortcuts() == [False] * len(plain.blocks)
    assert parameter_count(plain) == counts["A"]


def test_option_a_pads_zeros_on_downsampling() -> None:
    net = tiny_cnn()
    assert isinstance(net.blocks[0].shortcut, nn.Identity)
    pad = net.blocks[1].shortcut
    assert isinstance(pad, ZeroPadShortcut)
    x = torch.randn(2, 2, 8, 8)
    y = pad(x)
    assert y.shape == (2, 4, 4, 4)
    assert torch.equal(y[:, :2], x[:, :, ::2, ::2])
    assert not y[:, 2:].any()


def test_no_in_place_activations() -> None:
    nets = [tiny_cnn(act=a) for a in ("relu", "tanh", "sigmoid")] + [tiny_mlp(act="relu")]
    assert all(not getattr(m, "inplace", False) for net in nets for m in net.modules())


def _plain_twin_of(residual: ResidualNet, build) -> ResidualNet:
    plain = build(residual=False)
    own = set(plain.state_dict())
    assert own <= set(residual.state_dict())  # every plain weight has its residual counterpart
    copy_matching(residual, plain)
    assert all(torch.equal(v, residual.state_dict()[k]) for k, v in plain.state_dict().items())
    return plain


TWINS = [("basic", "A"), ("basic", "B"), ("basic", "C"), ("bottleneck", "A"), ("bottleneck", "B"),
         ("bottleneck", "C")]


@pytest.mark.parametrize("preact", [False, True], ids=["post", "preact"])
@pytest.mark.parametrize(("block", "shortcut"), TWINS)
def test_shortcuts_off_computes_exactly_the_plain_twin(block: str, shortcut: str, preact: bool) -> None:
    torch.manual_seed(0)

    def build(residual: bool) -> ResidualNet:
        return tiny_cnn(block, shortcut, residual, preact=preact)

    residual = build(True)
    plain = _plain_twin_of(residual, build)
    x = torch.randn(4, 3, 8, 8)
    residual.set_shortcut(None, False)
    for mode in (True, False):  # batch statistics, then running statistics
        residual.train(mode)
        plain.train(mode)
        assert torch.equal(residual(x), plain(x))
    residual.set_shortcut(None, True)
    assert not torch.allclose(residual(x), plain(x))


@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.parametrize("preact", [False, True], ids=["post", "preact"])
def test_mlp_shortcuts_off_computes_exactly_the_plain_twin(preact: bool, norm: str) -> None:
    torch.manual_seed(0)

    def build(residual: bool) -> ResidualNet:
        return tiny_mlp(residual, preact=preact, norm=norm)

    residual = build(True)
    plain = _plain_twin_of(residual, build)
    x = torch.randn(7, 6)
    residual.set_shortcut(None, False)
    assert torch.equal(residual(x), plain(x))
    residual.set_shortcut(None, True)
    assert not torch.allclose(residual(x), plain(x))


def _block_outputs(net: ResidualNet, x: torch.Tensor) -> list[torch.Tensor]:
    outs = []
    x = net.stem(x)
    for block in net.blocks:
        x = block(x)
        outs.append(x)
    return outs


@pytest.mark.parametrize("i", [0, 1, 2])
def test_set_shortcut_switches_only_that_block_from_the_next_forward(i: int) -> None:
    torch.manual_seed(0)
    net = tiny_cnn().eval()
    x = torch.randn(2, 3, 8, 8)
    before = _block_outputs(net, x)
    net.set_shortcut(i, False)
    assert net.shortcuts() == [k != i for k in range(3)]
    after = _block_outputs(net, x)
    for k in range(i):
        assert torch.equal(after[k], before[k])
    block = net.blocks[i]
    block_in = net.stem(x) if i == 0 else after[i - 1]
    assert torch.equal(after[i], block.post(block.residual(block.pre(block_in))))  # F alone, no x
    assert not torch.allclose(after[i], before[i])
    net.set_shortcut(i, True)
    assert all(torch.equal(a, b) for a, b in zip(_block_outputs(net, x), before, strict=True))


def test_set_shortcut_none_switches_every_block() -> None:
    net = tiny_mlp()
    net.set_shortcut(None, False)
    assert net.shortcuts() == [False] * 4
    net.set_shortcut(2, True)
    assert net.shortcuts() == [False, False, True, False]
    net.set_shortcut(None, True)
    assert net.shortcuts() == [True] * 4


@pytest.mark.parametrize("bad", [-1, 3, 1.0, True, "0"])
def test_set_shortcut_refuses_a_bad_block_index(bad) -> None:
    net = tiny_cnn()
    with pytest.raises(ValueError, match="block index must be .*between 0 and 2"):
        net.set_shortcut(bad, False)
    assert net.shortcuts() == [True] * 3


def test_plain_net_has_no_shortcut_to_switch() -> None:
    for plain in (tiny_cnn(residual=False), tiny_mlp(residual=False)):
        with pytest.raises(ValueError, match="plain net has no shortcuts"):
            plain.set_shortcut(0, True)
        with pytest.raises(ValueError, match="plain net has no shortcuts"):
            plain.set_shortcut(None, False)


def _first_last_ratio(net: ResidualNet, x: torch.Tensor, first: nn.Module, last: nn.Module) -> float:
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(1))
    torch.nn.functional.cross_entropy(net(x), y).backward()
    return (first.weight.grad.norm() / last.weight.grad.norm()).item()


@pytest.mark.parametrize("seed", [0, 1])
def test_plain_tanh_mlp_vanishes_at_init_and_residual_preserves(seed: int) -> None:
    """The lab's measurement: 50 tanh blocks, width 64, default init: plain ratio ~1e-11, residual ~2.7."""
    ratios = {}
    for residual in (False, True):
        torch.manual_seed(seed)
        net = mlp_stack(50, residual=residual, width=64, in_features=64, num_classes=10, act="tanh")
        x = torch.randn(256, 64, generator=torch.Generator().manual_seed(seed))
        ratios[residual] = _first_last_ratio(net, x, net.blocks[0].fc, net.blocks[-1].fc)
    assert ratios[False] < 1e-6
    assert 1e-2 < ratios[True] < 1e2


def test_plain_relu_mlp_vanishes_and_residual_relu_explodes_forward() -> None:
    """The lab's measurement: ReLU plain vanishes too; ReLU residual without normalisation blows up forward."""
    grads = {}
    for residual in (False, True):
        torch.manual_seed(0)
        net = mlp_stack(50, residual=residual, width=64, in_features=64, num_classes=10, act="relu")
        x = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
        ratio = _first_last_ratio(net, x, net.blocks[0].fc, net.blocks[-1].fc)
        grads[residual] = (ratio, net.blocks[-1].fc.weight.grad.norm().item())
    assert grads[False][0] < 1e-6
    assert grads[True][1] > 1e3  # the last block's gradient is huge: the forward signal exploded


def test_plain_bn_cnn_explodes_at_init_and_residual_does_not() -> None:
    """The lab's measurement: with BN the plain-56 first conv gets ~2,000x its last conv's gradient; residual ~8."""
    ratios = {}
    for residual in (False, True):
        torch.manual_seed(0)
        net = cifar_resnet(56, residual=residual, width=8)
        x = torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        ratios[residual] = _first_last_ratio(net, x, net.stem[0], net.blocks[-1].conv2)
    assert ratios[False] > 300  # exploding towards the input, not vanishing
    assert ratios[True] < 30
    assert ratios[False] > 50 * ratios[True]
