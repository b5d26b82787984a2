"""Lesion study (Veit et al. 2016): deleting blocks of trained twins, and what a deleted block computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet.analysis.lesion import changes_shape, deletion_counts, lesion_study, lesioned_logits, skip_path
from resnet.analysis.pairs import Pair, train_twin_pair
from resnet.nets import cifar_resnet
from resnet.shortcuts import ZeroPadShortcut
from resnet.trainer import ModelSpec, TrainConfig

# A BN ReLU MLP on spirals trains in a few seconds and shows the effect on every seed tried (0-2):
# deleting a residual unit costs 6-8 points of test accuracy, deleting a plain one 50-70.
TINY = TrainConfig(model=ModelSpec(family="mlp", depth=8, width=32, norm="batch", act="relu"), dataset="spirals",
                   device="cpu")


@pytest.fixture(scope="module")
def trained() -> Pair:
    return train_twin_pair(TINY, 200)


def test_deleting_a_residual_block_costs_less_than_deleting_a_plain_one(trained: Pair) -> None:
    result = lesion_study(trained, draws=3)
    cost = {t: result.intact[t] - float(np.mean(result.single[t])) for t in ("plain", "residual")}
    assert result.intact["plain"] > 0.9 and result.intact["residual"] > 0.9
    assert cost["residual"] < 0.2 < 0.4 < cost["plain"], cost


def test_random_deletions_run_from_intact_to_every_block(trained: Pair) -> None:
    result = lesion_study(trained, draws=4, seed=3)
    n = len(trained.residual.blocks)
    assert list(result.k) == list(range(n + 1))
    for twin in ("plain", "residual"):
        assert result.random[twin].shape == (n + 1, 4)
        assert np.allclose(result.random[twin][0], result.intact[twin])  # k = 0 deletes nothing
        assert np.ptp(result.random[twin][-1]) == 0  # k = n: every draw deletes every block
    # The residual net degrades gradually: with one block gone it keeps most of its accuracy.
    assert result.random["residual"][1].mean() > result.random["plain"][1].mean()


def test_deep_nets_sample_the_number_of_deleted_blocks() -> None:
    assert list(deletion_counts(9)) == list(range(10))
    ks = deletion_counts(27)  # CNN-56
    assert ks[0] == 0 and ks[-1] == 27 and len(ks) <= 12 and list(ks[:4]) == [0, 1, 2, 3]
    assert (np.diff(ks) > 0).all()


def test_deleting_nothing_is_the_net_itself(trained: Pair) -> None:
    x = trained.data.test_x[:32]
    for _, net in trained.nets():
        assert torch.equal(lesioned_logits(net, x, ()), net(x))


def test_a_deleted_residual_block_computes_its_shortcut_alone() -> None:
    net = cifar_resnet(8, residual=True, width=4, in_channels=1).eval()
    x = torch.relu(torch.randn(2, 4, 8, 8))  # post-activation blocks see non-negative inputs
    first, down = net.blocks[0], net.blocks[1]
    assert not changes_shape(first) and changes_shape(down)
    assert torch.equal(skip_path(first)(x), x)
    assert torch.equal(skip_path(down)(x), ZeroPadShortcut(4, 8, 2)(x))


def test_a_deleted_plain_block_is_skipped_and_zero_padded_where_the_shape_changes() -> None:
    net = cifar_resnet(8, residual=False, width=4, in_channels=1).eval()
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(skip_path(net.blocks[0])(x), x)
    padded = skip_path(net.blocks[1])(x)
    assert padded.shape == net.blocks[1](x).shape == (2, 8, 4, 4)
    assert torch.equal(padded[:, :4], x[:, :, ::2, ::2]) and not padded[:, 4:].any()
    logits = lesioned_logits(net, torch.randn(3, 1, 16, 16), {0, 1, 2})  # every block deleted still runs
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_draws_outside_the_bounds_say_what_is_valid(trained: Pair) -> None:
    with pytest.raises(ValueError, match="random draws must be between 1 and 100"):
        lesion_study(trained, draws=0)
    with pytest.raises(ValueError, match="random draws must be between 1 and 100"):
        lesion_study(trained, draws=101)
