"""The gradient identity dL/dx = dL/dy (dF/dx + I), checked against autograd in float64."""

from __future__ import annotations

import numpy as np
import pytest

from resnet.identity import gradient_identity

# Tiny units: Jacobians of 32 to 128 dimensions.
SIZES = {"basic": dict(width=2, size=4), "bottleneck": dict(width=2, size=4), "mlp": dict(width=16)}


@pytest.mark.parametrize("preact", [False, True])
@pytest.mark.parametrize("block", ["basic", "bottleneck", "mlp"])
def test_identity_matches_autograd(block: str, preact: bool) -> None:
    check = gradient_identity(block, preact=preact, **SIZES[block])
    assert check.relative_error < 1e-12  # float64 gives ~1e-15, far below the 1e-5 the page promises
    assert check.decomposition_error < 1e-12  # the unit computes post(F(x) + x), as the check assumes
    a, b = check.grad_autograd, check.grad_identity
    assert np.linalg.norm(a) > 0
    assert check.relative_error == pytest.approx(np.linalg.norm(a - b) / np.linalg.norm(a))
    assert check.activation_after_sum == (block != "mlp" and not preact)


def test_input_shapes_and_singular_value_counts() -> None:
    check = gradient_identity("bottleneck", width=2, size=4)
    assert check.input_shape == (8, 4, 4)  # 4 x width channels in and out
    assert check.singular_plain.shape == check.singular_residual.shape == (128,)
    assert np.all(np.diff(check.singular_plain) <= 1e-12)  # descending
    mlp = gradient_identity("mlp", width=16)
    assert mlp.input_shape == (16,)


@pytest.mark.parametrize("block", ["basic", "bottleneck", "mlp"])
def test_the_identity_moves_singular_values_towards_one(block: str) -> None:
    check = gradient_identity(block, **SIZES[block])

    def near_one(sv: np.ndarray) -> float:
        return float(np.mean((sv > 0.5) & (sv < 2.0)))

    assert near_one(check.singular_residual) > near_one(check.singular_plain)
    distance = [float(np.median(np.abs(np.log(np.maximum(sv, 1e-300))))) for sv in
                (check.singular_plain, check.singular_residual)]
    assert distance[1] < distance[0]


def test_relu_blocks_flatten_directions_the_identity_keeps() -> None:
    check = gradient_identity("basic", width=2, size=4)
    assert check.singular_plain.min() < 1e-8  # dead ReLUs and BN's removed mean: a null space
    assert check.singular_residual.min() > check.singular_plain.min()


def test_same_seed_same_check_and_seeds_differ() -> None:
    a = gradient_identity("mlp", width=8, seed=3)
    b = gradient_identity("mlp", width=8, seed=3)
    c = gradient_identity("mlp", width=8, seed=4)
    assert np.array_equal(a.grad_autograd, b.grad_autograd)
    assert not np.array_equal(a.grad_autograd, c.grad_autograd)


def test_knobs_are_validated() -> None:
    with pytest.raises(ValueError, match="block"):
        gradient_identity("vgg")
    with pytest.raises(ValueError, match="at most"):
        gradient_identity("bottleneck", width=16, size=32)  # 64 x 32 x 32 dimensions
    with pytest.raises(ValueError, match="width"):
        gradient_identity("basic", width=0)
