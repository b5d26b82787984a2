"""Loss landscapes (Li et al. 2018): filter-normalised directions, the grid's centre, batched evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resnet.analysis.landscape import (
    check_landscape,
    filter_normalized_direction,
    landscape_1d,
    landscape_2d,
    loss_samples,
)
from resnet.analysis.pairs import Pair
from tests.helpers import untrained_digits_pair


@pytest.fixture(scope="module")
def pair() -> Pair:
    """Untrained CIFAR-style twins on digits: the properties tested hold at any weights."""
    return untrained_digits_pair(0)


def test_each_filter_of_a_direction_has_the_norm_of_its_weight_filter(pair: Pair) -> None:
    for _, net in pair.nets():
        direction = filter_normalized_direction(net, seed=3)
        for name, p in net.named_parameters():
            d = direction[name]
            assert d.shape == p.shape
            if p.dim() <= 1:  # biases and BN parameters stay put
                assert not d.any(), name
                continue
            dims = tuple(range(1, p.dim()))
            expected = torch.linalg.vector_norm(p, dim=dims)
            assert torch.allclose(torch.linalg.vector_norm(d, dim=dims), expected, rtol=1e-5), name
            assert not torch.allclose(d, p)  # a random direction, not the weights themselves


def test_twins_share_the_random_draw_and_seeds_differ(pair: Pair) -> None:
    name = "blocks.0.conv1.weight"
    a = filter_normalized_direction(pair.plain, seed=1)[name]
    b = filter_normalized_direction(pair.residual, seed=1)[name]
    assert torch.allclose(a, b)  # same draw, and here the same weights
    assert not torch.allclose(a, filter_normalized_direction(pair.plain, seed=2)[name])


def test_the_centre_of_the_grid_is_the_models_own_loss(pair: Pair) -> None:
    *_, grid = landscape_2d(pair, resolution=5, samples=64, span=0.5)
    x, y = loss_samples(pair, 64, seed=0)
    for twin, net in pair.nets():
        with torch.no_grad():
            own = F.cross_entropy(net(x), y).item()
        assert grid.loss[twin][2, 2] == pytest.approx(own, rel=1e-4)
        assert np.isfinite(grid.loss[twin]).all()
        assert (grid.loss[twin] >= grid.loss[twin].min()).all()


def test_the_grid_fills_in_row_by_row(pair: Pair) -> None:
    partials = list(landscape_2d(pair, resolution=5, samples=32, span=1.0))
    assert [p.rows_done for p in partials] == [1, 2, 3, 4, 5]
    first = partials[0].loss["plain"]
    assert np.isfinite(first[0]).all() and np.isnan(first[1:]).all()
    assert partials[-1].complete and not partials[0].complete


def test_batched_points_give_the_same_grid_as_one_point_at_a_time(pair: Pair) -> None:
    *_, batched = landscape_2d(pair, resolution=5, samples=32, chunk=5)  # vmap over a row of weights
    *_, single = landscape_2d(pair, resolution=5, samples=32, chunk=1)
    for twin in ("plain", "residual"):
        assert np.allclose(batched.loss[twin], single.loss[twin], rtol=1e-4)
        assert np.allclose(batched.accuracy[twin], single.accuracy[twin])


def test_the_1d_slice_runs_through_the_trained_weights(pair: Pair) -> None:
    line = landscape_1d(pair, resolution=11, samples=32, span=1.0)
    *_, grid = landscape_2d(pair, resolution=5, samples=32, span=1.0)
    assert line.loss["plain"].shape == (1, 11)
    assert line.alphas[5] == 0.0
    assert line.loss["plain"][0, 5] == pytest.approx(grid.loss["plain"][2, 2], rel=1e-4)


@pytest.mark.parametrize(("settings", "message"), [
    ((20, 64, 1.0, 51), "grid points per axis must be odd"),
    ((53, 64, 1.0, 51), "grid points per axis must be between 5 and 51"),
    ((21, 8, 1.0, 51), "samples must be between 32 and 2048"),
    ((21, 64, 3.0, 51), r"span must be in \(0, 2\]"),
    ((21, 64, 1.0, 500), "points along the 1-D slice must be between 11 and 201"),
])
def test_settings_outside_the_bounds_say_what_is_valid(settings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_landscape(*settings)
