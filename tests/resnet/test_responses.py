"""Fig. 7 responses: one per layer, in layer order, equal to the BN outputs read independently."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet.nets import cifar_resnet, mlp_stack
from resnet.responses import layer_response_std, response_taps


def test_one_response_per_layer_in_layer_order() -> None:
    net = cifar_resnet(20, width=4, in_channels=1)
    names = [n for n, _ in response_taps(net)]
    assert len(names) == 18  # 20 layers minus the stem conv and the FC
    assert names[:3] == ["stage1.0.conv1", "stage1.0.conv2", "stage1.1.conv1"] and names[-1] == "stage3.2.conv2"
    assert len(response_taps(cifar_resnet(29, block="bottleneck", width=4))) == 27
    assert [n for n, _ in response_taps(mlp_stack(4, width=8, in_features=2, num_classes=3))] == [
        f"block{i}.fc" for i in range(4)]


@pytest.mark.parametrize("residual", [False, True])
def test_stds_equal_the_bn_outputs_read_independently(residual: bool) -> None:
    torch.manual_seed(0)
    net = cifar_resnet(14, residual=residual, width=4, in_channels=1)
    x = torch.randn(32, 1, 16, 16)
    with torch.no_grad():  # move the running statistics away from their defaults
        net.train()
        for _ in range(3):
            net(torch.randn(32, 1, 16, 16) * 2 + 1)
    outputs: list[torch.Tensor] = []
    bns = [getattr(b, name) for b in net.blocks for name in ("bn1", "bn2")]
    hooks = [bn.register_forward_hook(lambda _m, _i, out: outputs.append(out.std(correction=0))) for bn in bns]
    net.eval()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    got = layer_response_std(net, x)
    torch.testing.assert_close(torch.as_tensor(got.std, dtype=torch.float32), torch.stack(outputs))
    assert list(got.sorted_desc()) == sorted(got.std, reverse=True)


def test_initial_net_in_train_mode_reads_unit_responses_and_changes_nothing() -> None:
    torch.manual_seed(0)
    net = cifar_resnet(20, residual=False, width=4, in_channels=1)
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.eval()
    got = layer_response_std(net, torch.randn(64, 1, 16, 16), train_mode=True)
    # BN with batch statistics, gamma 1 and beta 0: every response has std 1.
    assert got.std == pytest.approx([1.0] * 18, abs=1e-3)
    assert not net.training
    for k, v in before.items():
        torch.testing.assert_close(net.state_dict()[k], v)
    assert all(not tap._forward_hooks for _, tap in response_taps(net))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a ResidualNet"):
        layer_response_std(nn.Linear(2, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2 samples"):
        layer_response_std(mlp_stack(2, width=4, in_features=2, num_classes=3), torch.zeros(1, 2))
