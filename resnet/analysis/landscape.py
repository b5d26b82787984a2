"""Loss landscapes (Li et al. 2018): the loss along filter-normalised random directions around trained weights.

A direction d has one random Gaussian entry per weight, rescaled filter by filter so that each
filter of d has the norm of the weight filter it perturbs (Sec. 4 of the paper); biases and BN
parameters get a zero direction, as in the paper. The loss at (a, b) is L(theta + a d1 + b d2) on
a fixed subset of the training set, with BN in eval mode (the trained running statistics). A
chunk of grid points is evaluated in one batched call: torch.func.functional_call under vmap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from resnet.analysis.pairs import Pair, working_copy
from resnet.analysis.results import Landscape
from resnet.checks import float_in, int_in
from resnet.nets import ResidualNet

RESOLUTION_2D = (5, 51)  # points per axis, odd so the trained weights sit on the centre
RESOLUTION_1D = (11, 201)
SAMPLES = (32, 2048)  # training images the loss is averaged over
MAX_SPAN = 2.0  # the grid covers [-span, span]; the paper plots [-1, 1]
Direction = dict[str, torch.Tensor]


def filter_normalized_direction(net: ResidualNet, seed: int) -> Direction:
    """A random direction over `net`'s parameters, each filter scaled to its weight filter's norm.

    A filter is one output unit's slice of a weight (a conv kernel's out-channel, a linear row).
    The random draw of a parameter depends only on the seed and the parameter's name, so twins get
    the same draw, each rescaled to its own weights.
    """
    direction = {}
    for name, p in net.named_parameters():
        if p.dim() <= 1:  # biases and BN scales/shifts: left out of the direction, as in the paper
            direction[name] = torch.zeros_like(p)
            continue
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        d = torch.randn(p.shape, generator=g).to(p)
        dims = tuple(range(1, p.dim()))
        norm = torch.linalg.vector_norm
        d = d * (norm(p, dim=dims, keepdim=True) / norm(d, dim=dims, keepdim=True).clamp_min(1e-12))
        direction[name] = d
    return direction


class _Evaluator:
    """Loss and accuracy of one net at many points theta + a d1 + b d2, a chunk at a time."""

    def __init__(self, net: ResidualNet, x: torch.Tensor, y: torch.Tensor, seed: int, dims: int) -> None:
        self.net = working_copy(net)
        self.theta = {k: v.detach() for k, v in self.net.named_parameters()}
        self.buffers = {k: v.detach() for k, v in self.net.named_buffers()}
        self.d1 = filter_normalized_direction(self.net, seed)
        self.d2 = filter_normalized_direction(self.net, seed + 1) if dims == 2 else None
        self.x, self.y = x, y
        self._batched = vmap(self._loss_and_accuracy)

    def _loss_and_accuracy(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = functional_call(self.net, (params, self.buffers), (self.x,))
        return F.cross_entropy(logits, self.y), (logits.argmax(1) == self.y).float().mean()

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Loss and accuracy at the points (a[k], b[k]); (K,) each."""
        params = {}
        for name, theta in self.theta.items():
            shape = (-1,) + (1,) * theta.dim()
            p = theta + a.view(shape) * self.d1[name]
            if self.d2 is not None:
                p = p + b.view(shape) * self.d2[name]
            params[name] = p  # (K, *theta.shape)
        if len(a) == 1:  # one point: a plain forward, no vmap machinery
            loss, acc = self._loss_and_accuracy({k: v[0] for k, v in params.items()})
            return loss.view(1).cpu().numpy(), acc.view(1).cpu().numpy()
        loss, acc = self._batched(params)
        return loss.cpu().numpy(), acc.cpu().numpy()


def default_chunk(device: torch.device, resolution: int) -> int:
    """Grid points per batched call: a whole row on a GPU; one on a CPU.

    Under vmap a batch of weights becomes a grouped convolution, which CPUs run slower than the
    same points one after another (measured on a 2-core CPU: a row of 21 points took 2.5x longer
    in one vmapped call than point by point); each point still scores all samples in one batch.
    """
    return resolution if device.type == "cuda" else 1


def _check(name: str, resolution: int, bounds: tuple[int, int], samples: int, span: float) -> None:
    int_in(name, resolution, *bounds)
    if resolution % 2 == 0:
        raise ValueError(f"{name} must be odd (so the trained weights sit at the centre), got {resolution}")
    int_in("samples", samples, *SAMPLES)
    float_in("span", span, 0.0, MAX_SPAN)


def check_landscape(resolution: int, samples: int, span: float, points_1d: int) -> None:
    """Raise a ValueError naming the bounds unless the 2-D and 1-D slice settings are valid."""
    _check("grid points per axis", resolution, RESOLUTION_2D, samples, span)
    _check("points along the 1-D slice", points_1d, RESOLUTION_1D, samples, span)


def loss_samples(pair: Pair, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of the training set, the same for both twins."""
    n = len(pair.data.train_y)
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(samples, n)]
    idx = idx.to(pair.data.train_x.device)
    return pair.data.train_x[idx], pair.data.train_y[idx]


def landscape_2d(pair: Pair, *, resolution: int = 21, samples: int = 128, span: float = 1.0, seed: int = 0,
                 chunk: int | None = None) -> Iterator[Landscape]:
    """Yield the 2-D landscape of both twins after every row of the grid; the last one is complete."""
    _check("grid points per axis", resolution, RESOLUTION_2D, samples, span)
    chunk = chunk or default_chunk(pair.data.train_x.device, resolution)
    return _landscape(pair, resolution, 2, samples, span, seed, chunk)


def landscape_1d(pair: Pair, *, resolution: int = 51, samples: int = 128, span: float = 1.0,
                 seed: int = 0) -> Landscape:
    """The loss of both twins along one filter-normalised direction (the first direction of the 2-D slice)."""
    _check("points along the 1-D slice", resolution, RESOLUTION_1D, samples, span)
    chunk = default_chunk(pair.data.train_x.device, resolution)
    *_, last = _landscape(pair, resolution, 1, samples, span, seed, chunk)
    return last


def _landscape(pair: Pair, resolution: int, dims: int, samples: int, span: float, seed: int,
               chunk: int) -> Iterator[Landscape]:
    int_in("chunk", chunk, 1, resolution)
    x, y = loss_samples(pair, samples, seed)
    alphas = np.linspace(-span, span, resolution)
    betas = alphas.copy() if dims == 2 else np.zeros(1)
    evaluators = {name: _Evaluator(net, x, y, seed, dims) for name, net in pair.nets()}
    loss = {name: np.full((len(betas), resolution), np.nan) for name in evaluators}
    acc = {name: np.full((len(betas), resolution), np.nan) for name in evaluators}
    device = x.device
    for row, beta in enumerate(betas):
        for start in range(0, resolution, chunk):
            a = torch.tensor(alphas[start : start + chunk], dtype=x.dtype, device=device)
            b = torch.full_like(a, float(beta))
            for name, evaluate in evaluators.items():
                loss[name][row, start : start + chunk], acc[name][row, start : start + chunk] = evaluate(a, b)
        yield Landscape(alphas, betas, {k: v.copy() for k, v in loss.items()},
                        {k: v.copy() for k, v in acc.items()}, len(y), row + 1)
