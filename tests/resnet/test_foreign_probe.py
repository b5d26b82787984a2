"""The probe on foreign models: every statistic against autograd, computed independently of the taps.

dL/dx at each block input comes from autograd's own .grad of that tensor (retain_grad), and, for
blocks whose input only they read (every ResNet block, DenseNet's transitions), from a second
run in which that input is replaced by a leaf tensor (autograd.grad gives dL/dx itself).
Parameter-gradient norms come from .grad after a plain backward, output statistics from forward
hooks. DenseNet: its adapter computes exactly what torchvision's DenseNet computes, and a dense
layer's input is the dense state (every earlier feature map), which later layers read as well.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd.functional import jacobian
from torchvision import models
from torchvision.models.densenet import _DenseLayer

from resnet import zoo
from resnet.probes import Probe
from resnet.yourmodel import block_spectra, probe_batch


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 32, 32, generator=g), torch.randint(0, 5, (2,), generator=g)


def _input_grad_norm(net, k: int, x: torch.Tensor, y: torch.Tensor) -> float:
    """||dL/dx|| at block k's input: that input replaced by a leaf, the loss differentiated by it."""
    leaves = []

    def substitute(module, args):
        leaves.append(args[0].detach().requires_grad_(True))
        return (leaves[-1], *args[1:])

    handle = net.blocks[k].register_forward_pre_hook(substitute)
    try:
        loss = F.cross_entropy(net(x), y)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(loss, leaves[0])
    return float(grad.norm())


def _keep(inputs: list):
    def hook(module, args):
        args[0].retain_grad()
        inputs.append(args[0])
    return hook


def _reference(net, x: torch.Tensor, y: torch.Tensor, sample: list[int]) -> dict[str, np.ndarray]:
    inputs = []
    handles = [b.register_forward_pre_hook(_keep(inputs)) for b in net.blocks]
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    for h in handles:
        h.remove()
    grad_norm = [float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in b.parameters()))) for b in net.blocks]
    return {"grad_norm": np.array(grad_norm), "retained": np.array([float(t.grad.norm()) for t in inputs]),
            "leaf": np.array([_input_grad_norm(net, k, x, y) for k in sample]),
            "inputs": [t.detach() for t in inputs]}


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_foreign_probe_rows_equal_autograd(name: str) -> None:
    torch.manual_seed(0)
    net = zoo.model(name, num_classes=5).train()
    twin = copy.deepcopy(net)  # the same weights, probed by hand
    x, y = _batch()
    with Probe(net) as probe:
        F.cross_entropy(net(x), y).backward()
        probe.step()
    row = probe.history()
    n = len(net.blocks)
    alone = [k for k, b in enumerate(net.blocks) if not isinstance(b, _DenseLayer)]  # sole readers of their input
    sample = sorted({alone[0], alone[1], alone[len(alone) // 2], alone[-1]})
    ref = _reference(twin, x, y, sample)
    np.testing.assert_allclose(row.grad_norm[0], ref["grad_norm"], rtol=1e-4)
    np.testing.assert_allclose(row.input_grad_norm[0], ref["retained"], rtol=1e-4)
    np.testing.assert_allclose(row.input_grad_norm[0, sample], ref["leaf"], rtol=1e-4)
    assert len(row.names) == n
    # Block k's output is what block k+1 reads; the last block's is what the head reads.
    outputs = ref["inputs"][1:]
    np.testing.assert_allclose(row.act_mean[0, :-1], [o.mean().item() for o in outputs], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(row.act_std[0, :-1], [o.std(unbiased=False).item() for o in outputs], rtol=1e-3)
    assert row.layer_names[0] in ("conv1", "features.conv0")
    assert row.layer_grad_norm.shape == (1, sum(1 for _ in row.layer_names))
    assert np.isfinite(row.layer_grad_norm).all() and (row.input_grad_norm > 0).all()


def test_densenet_adapter_computes_torchvision_s_densenet() -> None:
    torch.manual_seed(0)
    original = models.densenet121(weights=None, num_classes=4).eval()
    adapted = zoo.model("densenet121", num_classes=4).eval()
    adapted.load_state_dict(original.state_dict())
    x, _ = _batch()
    with torch.no_grad():
        assert torch.equal(adapted(x), original(x))


def test_the_last_tap_is_the_final_dense_state() -> None:
    torch.manual_seed(0)
    net = zoo.model("densenet121", num_classes=4)
    x, _ = _batch()
    seen = []
    handle = net.features.norm5.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    net.taps = []
    net(x)
    handle.remove()
    assert len(net.taps) == len(net.blocks) + 1 and net.taps[-1] is seen[0]
    assert net.taps[-1].shape[1] == 1024  # DenseNet-121's final features
    net.taps = None


def test_no_rows_without_grad_and_no_taps_outside_a_probe() -> None:
    net = zoo.model("resnet18", num_classes=4)
    x, _ = _batch()
    net.taps = []
    with torch.no_grad():
        net(x)
    assert net.taps == []
    net.taps = None
    net(x).sum().backward()  # no probe: nothing is recorded, nothing breaks
    assert net.taps is None


@pytest.mark.parametrize("kind", ["sum", "concat"])
def test_power_iteration_finds_the_top_singular_value_of_a_block(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "sum":
        net = zoo.model("resnet18", num_classes=3).eval()
        block, x = net.blocks[2], torch.randn(1, 64, 4, 4)  # layer2.0: a downsample projection
        branch, skip = block.residual, block.downsample
        full = lambda t: branch(t) + skip(t)  # noqa: E731
    else:
        net = zoo.model("densenet121", num_classes=3).eval()
        block, x = net.blocks[0], torch.randn(1, 64, 3, 3)
        branch, full = block, lambda t: torch.cat([t, block(t)], 1)  # noqa: E731
    exact = [torch.linalg.svdvals(jacobian(f, x).reshape(f(x).numel(), x.numel()))[0].item() for f in (branch, full)]
    plain, with_skip = block_spectra(block, kind, x, 30, torch.Generator().manual_seed(1))
    found = np.array([plain[0], with_skip[0]])
    # A Rayleigh quotient never overshoots; 30 iterations close to within 3% even where sigma_2 is near.
    assert (found <= np.array(exact) * (1 + 1e-5)).all() and (found >= 0.97 * np.array(exact)).all()
    assert with_skip[0] != pytest.approx(plain[0], rel=1e-2)


def test_probe_batch_reports_numpy_only_and_an_exact_identity() -> None:
    report = probe_batch("resnet18", data="random", input_size=32, batch=2, jacobian_iterations=1)
    assert report.grad_norm.shape == report.identity_error.shape == (8,)
    assert isinstance(report.grad_norm, np.ndarray) and report.sigma_skip.shape == (8, 1)
    assert np.nanmax(report.identity_error) < 1e-5 and report.skip_kinds == ["sum"] * 8
    dense = probe_batch("densenet121", data="digits", input_size=32, batch=2, jacobian_iterations=0)
    assert dense.skip_kinds.count("none") == 3 and np.isnan(dense.identity_error[dense.skip_kinds.index("none")])
    assert not dense.switchable
    with pytest.raises(ValueError, match="input size must be between 32 and 224"):
        probe_batch("resnet18", input_size=16)
