"""Residual units: the gradient identity dL/dx = dL/dy (dF/dx + I) against autograd, taps, shortcuts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from resnet.blocks import BasicBlock, Bottleneck, MLPBlock, ResidualUnit
from resnet.shortcuts import ZeroPadShortcut, make_shortcut, projection


def _block(kind: str, *, preact: bool = False, shortcut: str | None = "A") -> tuple[ResidualUnit, tuple[int, ...]]:
    """A small float64 unit in training mode and the shape of its input; shortcut None builds a plain unit."""
    torch.manual_seed(0)
    if kind == "mlp":
        block = MLPBlock(5, residual=shortcut is not None, preact=preact, norm_layer=nn.BatchNorm1d, act="tanh")
        return block.double(), (4, 5)
    stride, in_planes = (2, 2) if kind == "basic-down" else (1, 4)
    unit, planes = (Bottleneck, 1) if kind == "bottleneck" else (BasicBlock, 4)
    out_planes = planes * unit.expansion
    sc = make_shortcut(shortcut, in_planes, out_planes, stride, nn.BatchNorm2d) if shortcut else None
    block = unit(in_planes, planes, stride, shortcut=sc, preact=preact, norm_layer=nn.BatchNorm2d, act="tanh")
    return block.double(), (2, in_planes, 4, 4)


def _gradients(block: ResidualUnit, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Autograd's dL/dx, dL/dy at the sum y = F(x) + shortcut(x) (eq. 1, before any post-activation), dF/dx."""
    x = x.detach().requires_grad_()
    weights = torch.randn(block(x).shape, dtype=torch.float64)  # L = <weights, out>
    pre = block.pre(x)
    f = block.residual(pre)
    sc = block.shortcut(pre if block._project_pre else x) if block.shortcut_on else torch.zeros_like(f)
    y = f + sc
    out = block.post(y)
    assert torch.equal(out, block(x))  # the decomposition is the unit's own forward
    dy, dx = torch.autograd.grad((weights * out).sum(), [y, x])
    dfdx = jacobian(lambda t: block.residual(block.pre(t)), x).reshape(f.numel(), x.numel())
    return dx.flatten(), dy.flatten(), dfdx


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("preact", [False, True], ids=["post", "preact"])
@pytest.mark.parametrize("kind", ["mlp", "basic", "bottleneck"])
def test_gradient_identity_matches_autograd(kind: str, preact: bool) -> None:
    """dL/dx = dL/dy (dF/dx + I) for identity shortcuts, with dF/dx from autograd's Jacobian."""
    block, shape = _block(kind, preact=preact)
    assert isinstance(block.shortcut, nn.Identity)
    dx, dy, dfdx = _gradients(block, torch.randn(shape, dtype=torch.float64))
    predicted = dy @ (dfdx + torch.eye(dfdx.shape[0], dtype=torch.float64))
    assert _relative_error(predicted, dx) < 1e-10


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_gradient_identity_with_a_downsampling_shortcut(shortcut: str) -> None:
    """Where shapes change, I becomes the shortcut's Jacobian: zero-padding (A) or W_s (B)."""
    block, shape = _block("basic-down", shortcut=shortcut)
    x = torch.randn(shape, dtype=torch.float64)
    dx, dy, dfdx = _gradients(block, x)
    dsdx = jacobian(block.shortcut, x).reshape(dfdx.shape)
    assert _relative_error(dy @ (dfdx + dsdx), dx) < 1e-10
    if shortcut == "A":  # a 0/1 selection matrix: each kept input passes its gradient straight on
        assert set(dsdx.unique().tolist()) == {0.0, 1.0}
        assert dsdx.sum().item() == x[:, :, ::2, ::2].numel()


@pytest.mark.parametrize("kind", ["mlp", "basic", "bottleneck"])
def test_plain_unit_has_no_identity_term(kind: str) -> None:
    block, shape = _block(kind, shortcut=None)
    assert block.shortcut is None
    dx, dy, dfdx = _gradients(block, torch.randn(shape, dtype=torch.float64))
    assert _relative_error(dy @ dfdx, dx) < 1e-10


def test_switched_off_shortcut_drops_the_identity_term() -> None:
    block, shape = _block("basic")
    block.shortcut_on = False
    dx, dy, dfdx = _gradients(block, torch.randn(shape, dtype=torch.float64))
    assert _relative_error(dy @ dfdx, dx) < 1e-10
    assert _relative_error(dy @ (dfdx + torch.eye(dfdx.shape[0], dtype=torch.float64)), dx) > 1e-3


def test_identity_passes_the_gradient_straight_through_when_f_is_zero() -> None:
    """With the last BN's scale and shift at zero, F = 0 and dL/dx is exactly dL/dz."""
    block, shape = _block("basic")
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    dx, dy, dfdx = _gradients(block, torch.randn(shape, dtype=torch.float64))
    assert not dfdx.any()
    assert torch.equal(dx, dy)


def _recorded(block: ResidualUnit, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    handles = [getattr(block, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o)) for n in names]
    block(x)
    for h in handles:
        h.remove()
    return seen


def test_basic_block_taps_read_each_response_after_bn_before_the_addition() -> None:
    block, shape = _block("basic")
    x = torch.randn(shape, dtype=torch.float64)
    seen = _recorded(block, ["response1", "response2"], x)
    assert torch.equal(seen["response1"], block.bn1(block.conv1(x)))
    assert torch.equal(seen["response2"], block.residual(x))  # F(x) itself, before x is added


def test_bottleneck_taps_read_three_responses() -> None:
    block, shape = _block("bottleneck")
    x = torch.randn(shape, dtype=torch.float64)
    seen = _recorded(block, ["response1", "response2", "response3"], x)
    assert torch.equal(seen["response1"], block.bn1(block.conv1(x)))
    assert torch.equal(seen["response2"], block.bn2(block.conv2(block.act1(seen["response1"]))))
    assert torch.equal(seen["response3"], block.residual(x))
    assert seen["response3"].shape[1] == 4 * seen["response1"].shape[1]


def test_preact_basic_block_has_no_unused_layers() -> None:
    block, shape = _block("basic", preact=True)
    block(torch.randn(shape, dtype=torch.float64)).sum().backward()
    unused = [name for name, p in block.named_parameters() if p.grad is None]
    assert not unused


def test_mlp_unit_with_shortcut_off_is_the_plain_layer() -> None:
    block, shape = _block("mlp")
    block.shortcut_on = False
    x = torch.randn(shape, dtype=torch.float64)
    assert torch.equal(block(x), torch.tanh(block.norm(block.fc(x))))


def test_shortcut_options() -> None:
    assert isinstance(make_shortcut("A", 4, 4, 1, nn.BatchNorm2d), nn.Identity)
    assert isinstance(make_shortcut("B", 4, 4, 1, nn.BatchNorm2d), nn.Identity)
    assert isinstance(make_shortcut("A", 4, 8, 2, nn.BatchNorm2d), ZeroPadShortcut)
    for option, (i, o, s) in [("B", (4, 8, 2)), ("C", (4, 4, 1)), ("C", (4, 8, 2))]:
        sc = make_shortcut(option, i, o, s, nn.BatchNorm2d)
        assert isinstance(sc, nn.Sequential) and sc[0].kernel_size == (1, 1) and sc[0].stride == (s, s)
        assert sc(torch.randn(2, i, 8, 8)).shape == (2, o, 8 // s, 8 // s)
    assert sum(p.numel() for p in projection(4, 8, 2, nn.BatchNorm2d).parameters()) == 4 * 8 + 2 * 8


def test_option_a_refuses_to_shrink_channels() -> None:
    with pytest.raises(ValueError, match="option A cannot shrink channels; use shortcut 'B' or 'C'"):
        make_shortcut("A", 8, 4, 1, nn.BatchNorm2d)
