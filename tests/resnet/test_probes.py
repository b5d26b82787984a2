"""The probe: its statistics equal autograd's, computed independently; chunking, drain, clean exit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet.nets import ResidualNet, cifar_resnet, mlp_stack
from resnet.probes import Probe, ProbeHistory


def tiny_cnn() -> ResidualNet:
    """Three basic units (2/4/8 filters) with BN and option B projections: every kind of parameter."""
    torch.manual_seed(0)
    return cifar_resnet(8, width=2, shortcut="B", in_channels=1, num_classes=4)


def tiny_mlp() -> ResidualNet:
    """Five tanh units with BN."""
    torch.manual_seed(0)
    return mlp_stack(5, width=6, in_features=3, num_classes=4, norm="batch")


def tiny_sigmoid_mlp() -> ResidualNet:
    """A plain sigmoid stack: outputs sit near 0.5 with a small spread, the hardest case for mean and std."""
    torch.manual_seed(0)
    return mlp_stack(6, residual=False, width=6, in_features=3, num_classes=4, act="sigmoid")


NETS = {"cnn": (tiny_cnn, (1, 8, 8)), "mlp": (tiny_mlp, (3,)), "sigmoid-mlp": (tiny_sigmoid_mlp, (3,))}


def _batches(sample_shape: tuple[int, ...], steps: int, batch: int = 6) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(batch, *sample_shape, generator=g), torch.randint(0, 4, (batch,), generator=g))
            for _ in range(steps)]


def _reference_row(net: ResidualNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """The statistics from first principles: forward hooks for block inputs/outputs, autograd.grad for gradients."""
    assert net.taps is None
    inputs, outputs = [], []
    handles = [b.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for b in net.blocks]
    handles += [b.register_forward_hook(lambda m, a, o: outputs.append(o)) for b in net.blocks]
    loss = F.cross_entropy(net(x), y)
    for h in handles:
        h.remove()
    params = [list(b.parameters()) for b in net.blocks]
    layers = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    flat = [p for ps in params for p in ps]
    grads = torch.autograd.grad(loss, inputs + flat + layers)
    g_in, g_par, g_layer = grads[: len(inputs)], grads[len(inputs) : len(inputs) + len(flat)], grads[-len(layers) :]
    per_block, k = [], 0
    for ps in params:
        per_block.append(torch.sqrt(sum(g.double().square().sum() for g in g_par[k : k + len(ps)])))
        k += len(ps)
    as_np = lambda ts: torch.stack([t.double() for t in ts]).detach().numpy()  # noqa: E731
    return {
        "grad_norm": as_np(per_block),
        "input_grad_norm": as_np([g.double().norm() for g in g_in]),
        "act_mean": as_np([o.double().mean() for o in outputs]),
        "act_std": as_np([o.double().std(correction=0) for o in outputs]),
        "layer_grad_norm": as_np([g.double().norm() for g in g_layer]),
    }


@pytest.mark.parametrize("kind", sorted(NETS))
def test_probe_values_equal_autograd(kind: str) -> None:
    build, shape = NETS[kind]
    net = build()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    expected = []
    with Probe(net) as probe:
        for x, y in _batches(shape, 3):
            reference = copy.deepcopy(net)  # same weights and BN state, nothing recorded
            reference.taps = None
            expected.append(_reference_row(reference, x, y))
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            probe.step()
            opt.step()
    h = probe.history()
    assert h.names == net.block_names()
    assert h.layer_names == [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert h.steps.tolist() == [0, 1, 2]
    for stat in ("grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        got = getattr(h, stat)
        assert got.dtype == np.float32
        want = np.stack([row[stat] for row in expected])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7, err_msg=stat)
    assert (h.grad_norm > 0).all() and (h.input_grad_norm > 0).all()


def test_an_extra_gradient_pass_does_not_count_twice() -> None:
    """Input-gradient norms come from the latest backward pass (an analysis may call autograd.grad first)."""
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    with Probe(net) as probe:
        loss = F.cross_entropy(net(x), y)
        torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)
        loss.backward()
        probe.step()
    reference = copy.deepcopy(net)
    reference.taps = None
    expected = _reference_row(reference, x, y)["input_grad_norm"]
    np.testing.assert_allclose(probe.history().input_grad_norm[0], expected, rtol=2e-5)


def test_probe_counts_projection_weights_in_their_block() -> None:
    net = tiny_cnn()
    x, y = _batches((1, 8, 8), 1)[0]
    projection = net.blocks[1].shortcut[0].weight  # stage2.0's 1x1 projection
    with Probe(net) as probe:
        F.cross_entropy(net(x), y).backward()
        probe.step()
        p = projection.grad.double().norm().item()
        projection.grad.zero_()
        F.cross_entropy(net(x), y).backward()  # accumulates: every gradient doubles but the projection's
        probe.step()
    before, after = probe.history().grad_norm.astype(np.float64)
    assert after[0] == pytest.approx(2 * before[0], rel=1e-6)
    assert after[1] ** 2 == pytest.approx(4 * (before[1] ** 2 - p**2) + p**2, rel=1e-5)


def _block_input(net: ResidualNet, x: torch.Tensor, y: torch.Tensor, i: int) -> torch.Tensor:
    """Run a training pass and return the tensor that entered block `i`."""
    inputs = []
    handle = net.blocks[i].register_forward_pre_hook(lambda m, a: inputs.append(a[0]))
    F.cross_entropy(net(x), y).backward()
    handle.remove()
    return inputs[0]


def test_exit_removes_the_taps_and_leaves_no_hooks() -> None:
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    with Probe(net) as probe:
        assert net.taps == []
        assert _block_input(net, x, y, 2)._backward_hooks  # recorded: a gradient hook on the block input
        probe.step()
    assert net.taps is None
    assert all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks) for m in net.modules())
    block_input = _block_input(net, x, y, 2)
    assert not block_input._backward_hooks and not block_input.retains_grad  # nothing is recorded any more
    with pytest.raises(RuntimeError, match="inside `with Probe"):
        probe.step()
    assert len(probe.history()) == 1


def test_evaluation_under_no_grad_adds_no_rows() -> None:
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    with Probe(net) as probe:
        with torch.no_grad():
            net.eval()
            net(x)
            net.train()
        assert net.taps == []
        F.cross_entropy(net(x), y).backward()
        probe.step()
    assert len(probe.history()) == 1


def _record(net: ResidualNet, probe: Probe, batches) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        probe.step()
        opt.step()


def test_chunked_flushing_gives_the_same_rows() -> None:
    net = tiny_cnn()
    twin = copy.deepcopy(net)
    batches = _batches((1, 8, 8), 8)
    with Probe(net, chunk=3) as small, Probe(twin, chunk=64) as large:
        _record(net, small, batches)
        _record(twin, large, batches)
    a, b = small.history(), large.history()
    assert len(a) == len(b) == 8
    for stat in ("steps", "grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        np.testing.assert_array_equal(getattr(a, stat), getattr(b, stat), err_msg=stat)


def test_drain_returns_each_row_once() -> None:
    net = tiny_mlp()
    batches = _batches((3,), 9)
    with Probe(net, chunk=3) as probe:
        _record(net, probe, batches[:5])
        first = probe.drain()
        assert first.steps.tolist() == [0, 1, 2, 3, 4]
        assert len(probe.drain()) == 0  # nothing new
        assert len(probe.history()) == 5  # history does not consume rows
        _record(net, probe, batches[5:])
        second = probe.drain()
    assert second.steps.tolist() == [5, 6, 7, 8]
    whole = probe.history()
    joined = ProbeHistory.concat([first, probe.drain(), second])  # an empty drain in between
    assert joined.steps.tolist() == list(range(9)) and joined.names == whole.names
    for stat in ("grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        rows = np.concatenate([getattr(first, stat), getattr(second, stat)])
        np.testing.assert_array_equal(rows, getattr(whole, stat), err_msg=stat)
        np.testing.assert_array_equal(getattr(joined, stat), getattr(whole, stat), err_msg=stat)
        assert getattr(second, stat).shape[0] == 4


def test_a_probe_that_hands_its_rows_over_keeps_none_of_them() -> None:
    # A worker's probe: every drained row has gone to the server and the store, so none stays behind.
    net, kept = tiny_mlp(), tiny_mlp()
    kept.load_state_dict(net.state_dict())
    batches = _batches((3,), 11)
    with Probe(net, chunk=3) as probe, Probe(kept, chunk=3) as reference:
        probe.keep_drained = False
        parts = []
        for lo, hi in ((0, 4), (4, 4), (4, 11)):
            _record(net, probe, batches[lo:hi])
            _record(kept, reference, batches[lo:hi])
            parts.append(probe.drain())
            assert probe._host == [] and probe._step_ids == []  # nothing held past the drain
        with pytest.raises(RuntimeError, match="handed its first 11 rows over"):
            probe.history()
        whole = reference.history()
    joined = ProbeHistory.concat([p for p in parts if len(p)])
    assert joined.steps.tolist() == list(range(11))
    for stat in ("grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        np.testing.assert_array_equal(getattr(joined, stat), getattr(whole, stat), err_msg=stat)


def test_step_ids_are_kept() -> None:
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    with Probe(net) as probe:
        for step in (10, 20):
            net.taps.clear()
            F.cross_entropy(net(x), y).backward()
            probe.step(step)
    assert probe.history().steps.tolist() == [10, 20]


def test_empty_history_has_the_right_columns() -> None:
    net = tiny_cnn()
    with Probe(net) as probe:
        h = probe.history()
    assert len(h) == 0
    assert h.grad_norm.shape == (0, 3) and h.layer_grad_norm.shape == (0, len(h.layer_names))


def test_probe_needs_a_residual_net() -> None:
    with pytest.raises(ValueError, match="Probe needs a ResidualNet"):
        Probe(nn.Linear(2, 2))


def test_step_without_a_pass_is_refused() -> None:
    with Probe(tiny_mlp()) as probe, pytest.raises(RuntimeError, match="needs a forward and backward pass"):
        probe.step()


def test_a_block_input_without_a_gradient_reads_zero_and_its_statistics_still_count() -> None:
    # A frozen stem: block 0's input needs no gradient, so no hook fires on it; the rest is as before.
    net = tiny_mlp()
    for p in net.stem.parameters():
        p.requires_grad_(False)
    x, y = _batches((3,), 1)[0]
    reference = copy.deepcopy(net)
    outputs, inputs = [], []
    for b in reference.blocks:
        b.register_forward_pre_hook(lambda m, a: inputs.append(a[0]))
        b.register_forward_hook(lambda m, a, o: outputs.append(o))
    loss = F.cross_entropy(reference(x), y)
    grads = torch.autograd.grad(loss, inputs[1:])
    with Probe(net) as probe:
        F.cross_entropy(net(x), y).backward()
        probe.step()
    h = probe.history()
    want_in = [0.0] + [g.double().norm().item() for g in grads]
    np.testing.assert_allclose(h.input_grad_norm[0], want_in, rtol=2e-5)
    np.testing.assert_allclose(h.act_mean[0], [o.double().mean().item() for o in outputs], rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(h.act_std[0], [o.double().std(correction=0).item() for o in outputs], rtol=2e-5)
    assert h.layer_names[0] == "stem.1" and h.layer_grad_norm[0, 0] == 0  # the frozen stem's weight
    assert (h.layer_grad_norm[0, 1:] > 0).all()


def test_a_block_input_changed_in_place_before_backward_is_refused() -> None:
    # A pre-activation tanh unit saves tanh's output, not its input, so autograd itself would not notice.
    torch.manual_seed(0)
    net = mlp_stack(4, width=6, in_features=3, num_classes=4, preact=True)
    x, y = _batches((3,), 1)[0]
    with Probe(net):
        loss = F.cross_entropy(net(x), y)
        with torch.no_grad():
            net.taps[2].mul_(2)  # block 2's input: block 1's output
        with pytest.raises(RuntimeError, match="block 1's output was changed in place"):
            loss.backward()


def test_a_hook_already_on_a_block_input_still_fires_beside_the_probe() -> None:
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    reference = copy.deepcopy(net)
    reference.taps = None
    expected = _reference_row(reference, x, y)
    seen = []

    def hook_stem_output(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        out.register_hook(lambda g: seen.append(g.norm().item()))

    net.stem.register_forward_hook(hook_stem_output)
    with Probe(net) as probe:
        F.cross_entropy(net(x), y).backward()
        probe.step()
    h = probe.history()
    assert seen == [pytest.approx(float(expected["input_grad_norm"][0]), rel=2e-5)]
    for stat in ("input_grad_norm", "act_mean", "act_std", "grad_norm"):
        np.testing.assert_allclose(getattr(h, stat)[0], expected[stat], rtol=2e-5, atol=1e-7, err_msg=stat)


def test_a_replaced_tap_list_is_refused() -> None:
    net = tiny_mlp()
    x, y = _batches((3,), 1)[0]
    with Probe(net) as probe:
        net.taps = []
        F.cross_entropy(net(x), y).backward()
        with pytest.raises(RuntimeError, match="model.taps was replaced"):
            probe.step()
