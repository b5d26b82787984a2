"""The gradient identity of a residual unit, checked: dL/dx = dL/dy (dF/dx + I) (He et al. 2015, eq. 1).

Here y is the sum F(x) + x. Post-activation blocks apply a ReLU after the sum; it lies on the
loss's side of y, so dL/dy carries its 0/1 mask and the identity stays exact. For
pre-activation blocks, F includes the opening BN-ReLU, and for MLP units the activation sits
inside F: both have nothing after the sum. Everything runs in float64, batch norm in training
mode (statistics of the input itself, as at the first training step), at initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.functional import jacobian

from resnet.blocks import ResidualUnit
from resnet.checks import choice, int_in
from resnet.nets import cifar_resnet, mlp_stack

IDENTITY_BLOCKS = ("basic", "bottleneck", "mlp")
MAX_JACOBIAN_SIZE = 4096  # input dimensions: a 4096 x 4096 float64 Jacobian is 128 MiB


@dataclass(frozen=True)
class IdentityCheck:
    """dL/dx two ways, and the singular values of the unit's Jacobian without and with the identity."""

    block: str
    preact: bool
    input_shape: tuple[int, ...]  # one example, without the batch axis
    activation_after_sum: bool  # True for post-activation conv blocks: y's ReLU lies in dL/dy
    grad_autograd: np.ndarray  # dL/dx by backpropagation through the whole unit, flattened
    grad_identity: np.ndarray  # dL/dy (dF/dx + I), flattened
    relative_error: float  # |autograd - identity| / |autograd|
    decomposition_error: float  # max |unit(x) - post(F(x) + x)|: the unit is what the check assumes
    singular_plain: np.ndarray  # singular values of dF/dx, descending: the plain unit
    singular_residual: np.ndarray  # singular values of dF/dx + I, descending: the residual unit


def _unit(block: str, preact: bool, width: int) -> ResidualUnit:
    """An identity-shortcut unit taken from the engine's own nets, with their initialisation."""
    if block == "basic":
        return cifar_resnet(8, width=width, preact=preact, in_channels=1).blocks[0]  # stage1.0: width -> width
    if block == "bottleneck":
        # stage1.0 widens to 4 x width through its shortcut; stage1.1 maps 4 x width to itself.
        return cifar_resnet(20, block="bottleneck", width=width, preact=preact, in_channels=1).blocks[1]
    return mlp_stack(1, width=width, in_features=1, num_classes=2, preact=preact).blocks[0]


def gradient_identity(block: str = "basic", *, preact: bool = False, width: int = 8, size: int = 6,
                      seed: int = 0) -> IdentityCheck:
    """Check eq. (1)'s backward form on one unit at initialisation, in float64.

    `width` is the unit's channels (3x3 width for a bottleneck, features for an MLP unit) and
    `size` the side of the input map (ignored for MLP units); the Jacobian is (C H W)^2.
    """
    choice("block", block, IDENTITY_BLOCKS)
    int_in("width", width, 1, 256)
    int_in("size", size, 2, 32)
    int_in("seed", seed, 0, 2**31 - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unit = _unit(block, preact, width).double().train()
        channels = width * unit.expansion
        shape = (width,) if block == "mlp" else (channels, size, size)
        dims = int(np.prod(shape))
        if dims > MAX_JACOBIAN_SIZE:
            raise ValueError(f"the unit's input has {dims} dimensions; keep it at most {MAX_JACOBIAN_SIZE} "
                             "(lower width or size)")
        x = torch.randn((1, *shape), dtype=torch.float64, requires_grad=True)
        readout = torch.randn((1, *shape), dtype=torch.float64)  # L = <readout, unit(x)>: a random dL/d(output)

    def branch(t: torch.Tensor) -> torch.Tensor:
        """F(x): everything between the unit's input and the sum, pre-activation included."""
        return unit.residual(unit.pre(t))

    # Autograd through the unit as the nets run it.
    out = unit(x)
    (grad_autograd,) = torch.autograd.grad((readout * out).sum(), x)

    # The identity: dL/dy at the sum y = F(x) + x, times (dF/dx + I).
    with torch.no_grad():
        y = branch(x) + x
    y.requires_grad_(True)
    (grad_y,) = torch.autograd.grad((readout * unit.post(y)).sum(), y)
    jac = jacobian(branch, x.detach(), vectorize=True).reshape(dims, dims)  # dF/dx, (out, in)
    eye = torch.eye(dims, dtype=torch.float64)
    grad_identity = grad_y.reshape(1, dims) @ (jac + eye)

    a, b = grad_autograd.reshape(-1), grad_identity.reshape(-1)
    return IdentityCheck(
        block=block,
        preact=preact,
        input_shape=tuple(shape),
        activation_after_sum=not isinstance(unit.post, torch.nn.Identity),
        grad_autograd=a.numpy(),
        grad_identity=b.detach().numpy(),
        relative_error=float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(a)),
        decomposition_error=float((out.detach() - unit.post(y).detach()).abs().max()),
        singular_plain=torch.linalg.svdvals(jac).numpy(),
        singular_residual=torch.linalg.svdvals(jac + eye).numpy(),
    )
