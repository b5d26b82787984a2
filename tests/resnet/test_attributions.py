"""Attributions with Captum: integrated gradients' completeness and conductance through each block's F."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet.analysis.attributions import (
    block_attributions,
    branch_output,
    check_attribution_settings,
    input_attributions,
)
from resnet.analysis.pairs import Pair
from resnet.nets import cifar_resnet
from tests.helpers import untrained_digits_pair


@pytest.fixture(scope="module")
def pair() -> Pair:
    """Untrained CIFAR-style twins on digits, BN statistics taken from the data."""
    return untrained_digits_pair(1)


def test_integrated_gradients_add_up_to_the_change_of_the_logit(pair: Pair) -> None:
    result = input_attributions(pair, [0, 5, 9], n_steps=64)
    for twin in ("plain", "residual"):
        total = result.integrated_gradients[twin].reshape(3, -1).sum(axis=1)
        change = result.output_change[twin]
        assert np.all(np.abs(change) > 1e-3)
        # Completeness: the attributions sum to f(x) - f(baseline), up to the integral's error.
        assert np.allclose(total, change, rtol=0.05, atol=1e-3), (total, change)
        assert np.all(np.abs(result.delta[twin]) <= 0.05 * np.abs(change) + 1e-3)
        assert result.saliency[twin].shape == (3, 16, 16) and (result.saliency[twin] >= 0).all()
    assert result.labels == pair.data.test_y[[0, 5, 9]].tolist()


def test_every_block_of_a_plain_net_carries_the_whole_change(pair: Pair) -> None:
    result = block_attributions(pair, samples=8, n_steps=128)
    assert result.block_names == pair.residual.block_names()
    # Every path of a plain net crosses every block, so conductance through each F sums to it all
    # (up to the integral's error: 0.72-0.95 at 16 steps, 0.96-0.98 at 128 on these nets).
    assert np.allclose(result.share["plain"], 1.0, atol=0.06), result.share["plain"]
    # A residual block's F is bypassed by its shortcut: at least one carries visibly less than all.
    assert np.isfinite(result.share["residual"]).all()
    assert np.min(np.abs(result.share["residual"] - 1.0)) < np.max(np.abs(result.share["residual"] - 1.0))


def test_block_attribution_leaves_the_shared_pair_untouched(pair: Pair) -> None:
    before = {k: v.clone() for k, v in pair.residual.state_dict().items()}
    block_attributions(pair, samples=2, n_steps=4)
    assert not pair.residual._forward_hooks and not branch_output(pair.residual.blocks[0])._forward_hooks
    assert all(torch.equal(before[k], v) for k, v in pair.residual.state_dict().items())


def test_the_tap_is_the_end_of_the_residual_function() -> None:
    net = cifar_resnet(8, width=4, in_channels=1)
    assert branch_output(net.blocks[0]) is net.blocks[0].response2


@pytest.mark.parametrize(("samples", "steps", "indices", "message"), [
    (0, 32, [0], "test images for the bars must be between 1 and 256"),
    (8, 2, [0], "integration steps must be between 4 and 256"),
    (8, 32, [], "choose between 1 and 8 test images"),
    (8, 32, list(range(9)), "choose between 1 and 8 test images"),
    (8, 32, [-1], "whole numbers between 0"),
])
def test_settings_outside_the_bounds_say_what_is_valid(samples, steps, indices, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_attribution_settings(samples, steps, indices)


def test_an_index_past_the_test_set_names_its_size(pair: Pair) -> None:
    with pytest.raises(ValueError, match="between 0 and 299"):
        input_attributions(pair, [300])
