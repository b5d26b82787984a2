"""Shattered gradients (Balduzzi et al. 2017): how input gradients decorrelate with depth.

The nets are ReLU MLPs with He-normal weights (the paper's setting), on the 2-D spirals data. The
input runs along a segment of the plane, x(t) = p0 + t (p1 - p0) for `points` values of t in
[0, 1]; restricted to it the net is a function of one variable, as the paper's 1-D-input nets,
and its gradient is g(t) = d logit_0 / dt = grad_x logit_0 . (p1 - p0). The autocorrelation of
g against lag (mean removed, 1 at lag 0) is near 1 for a smooth gradient and near 0 at every
lag > 0 for white noise. Normalisation "batch" uses BN in eval mode, its statistics estimated on
the training set (at initialisation too), so that each point's gradient is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from resnet.analysis.results import ShatteredResult
from resnet.checks import choice, int_in
from resnet.data import Dataset
from resnet.layers import NORMS
from resnet.nets import MAX_MLP_WIDTH, ResidualNet, mlp_stack
from resnet.trainer import ModelSpec, TrainConfig, cached_dataset, train

POINTS = (16, 4096)
MAX_DEPTH = 100
MAX_SEEDS = 16
MAX_STEPS = 2000
MAX_LAG = 32
LAGS = 16  # the autocorrelation's lags by default; it needs 4 points on the segment a lag
SEGMENT = ((-2.0, -1.0), (2.0, 0.0))  # standardised units; misses the origin, where a ReLU net is homogeneous
Progress = Callable[[float, str], None]


def he_mlp(depth: int, *, residual: bool, width: int, norm: str, seed: int, data: Dataset) -> ResidualNet:
    """A ReLU MLP for `data` with He-normal weights (fan-in), PyTorch's default biases."""
    torch.manual_seed(seed)
    net = mlp_stack(depth, residual=residual, width=width, in_features=data.in_features,
                    num_classes=data.num_classes, norm=norm, act="relu")
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


@torch.no_grad()
def estimate_bn_statistics(net: ResidualNet, x: torch.Tensor) -> None:
    """Set every BN layer's running statistics to those of `x` (one pass, cumulative average)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    net(x)
    net.eval()


def segment(points: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """`points` inputs evenly spaced along SEGMENT, (points, 2), and the segment's direction p1 - p0, (2,)."""
    p0, p1 = (torch.tensor(p, device=device) for p in SEGMENT)
    t = torch.linspace(0.0, 1.0, points, device=device)[:, None]
    return p0 + t * (p1 - p0), p1 - p0


def line_gradient(net: ResidualNet, points: int) -> np.ndarray:
    """g(t) = d logit_0 / dt along the segment, one backward for every point; (points,)."""
    net.eval()
    param = next(net.parameters())
    x, direction = segment(points, param.device)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[:, 0].sum(), x)  # eval mode: each output sees only its own input
    return (grad @ direction).detach().cpu().numpy()


def autocorrelation(g: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation of `g` at lags 0..max_lag (mean removed; 1 at lag 0, 0 for a constant)."""
    int_in("max lag", max_lag, 1, len(g) - 1)
    centred = np.asarray(g, np.float64) - np.mean(g)
    power = float(centred @ centred)
    if power == 0.0:
        return np.r_[1.0, np.zeros(max_lag)]
    return np.array([centred[: len(g) - k] @ centred[k:] / power for k in range(max_lag + 1)])


def check_shattered(depths: Sequence[int], *, width: int, norm: str, points: int, seeds: int, steps: int,
                    max_lag: int = LAGS) -> None:
    """Raise a ValueError naming the bounds unless every setting of the study is valid."""
    if not depths:
        raise ValueError("choose at least one depth")
    for d in depths:
        int_in("depth", d, 1, MAX_DEPTH)
    int_in("width", width, 2, MAX_MLP_WIDTH)
    choice("norm", norm, NORMS)
    int_in("points on the segment", points, *POINTS)
    int_in("draws at initialisation", seeds, 1, MAX_SEEDS)
    int_in("training steps", steps, 0, MAX_STEPS)
    int_in("max lag", max_lag, 1, min(MAX_LAG, points // 4))


def shattered_study(depths: Sequence[int] = (2, 5, 10, 20, 50), *, width: int = 64, norm: str = "batch",
                    points: int = 256, seeds: int = 3, steps: int = 100, max_lag: int = LAGS, device: str = "cpu",
                    on_progress: Progress | None = None) -> ShatteredResult:
    """Gradients along the segment for plain and residual nets at each depth: at initialisation (averaged
    over `seeds` draws of the weights) and, for seed 0, after `steps` training steps on spirals."""
    check_shattered(depths, width=width, norm=norm, points=points, seeds=seeds, steps=steps, max_lag=max_lag)
    depths = sorted(set(depths))
    data = cached_dataset("spirals", device, None, False)
    twins = ("plain", "residual")
    stages = {"init": seeds, "trained": 1} if steps else {"init": seeds}
    acf = {(s, n): np.full((len(depths), k, max_lag + 1), np.nan) for s, k in stages.items() for n in twins}
    gradient = {(s, n): np.full((len(depths), points), np.nan) for s in stages for n in twins}
    train_error = {n: np.full(len(depths), np.nan) for n in twins}
    diverged = {n: np.zeros(len(depths), bool) for n in twins}
    # Training dominates the cost and grows with depth: weigh progress by blocks trained.
    work = {d: seeds * 0.05 * d + (d if steps else 0) for d in depths}
    total, done = 2 * sum(work.values()), 0.0
    for i, depth in enumerate(depths):
        for twin in twins:
            for seed in range(seeds):
                net = he_mlp(depth, residual=twin == "residual", width=width, norm=norm, seed=seed, data=data)
                net = net.to(device)
                estimate_bn_statistics(net, data.train_x)
                _record(acf, gradient, ("init", twin), i, seed, line_gradient(net, points), max_lag)
                if steps and seed == 0:
                    run = train(_config(depth, twin == "residual", width, norm, device), steps=steps, model=net)
                    if run.status == "diverged":
                        diverged[twin][i] = True
                    else:
                        train_error[twin][i] = float(run.train_error[-max(1, steps // 10):].mean())
                        estimate_bn_statistics(net, data.train_x)  # training left momentum-free running stats
                        _record(acf, gradient, ("trained", twin), i, 0, line_gradient(net, points), max_lag)
            done += work[depth]
            if on_progress is not None:
                on_progress(done / total, f"depth {depth}: {twin} nets done")
    return ShatteredResult(depths, np.linspace(0.0, 1.0, points), gradient, acf, train_error, diverged,
                           norm, width, steps)


def _record(acf: dict, gradient: dict, key: tuple[str, str], depth_index: int, seed: int, g: np.ndarray,
            max_lag: int) -> None:
    acf[key][depth_index, seed] = autocorrelation(g, max_lag)
    if seed == 0:
        gradient[key][depth_index] = g


def _config(depth: int, residual: bool, width: int, norm: str, device: str) -> TrainConfig:
    """Adam at 1e-3, batch 128 on spirals: Adam's step does not grow with the gradient, so BN-free nets
    whose forward pass explodes at depth (residual ReLU stacks under He init) still take sane steps."""
    spec = ModelSpec(family="mlp", depth=depth, residual=residual, norm=norm, act="relu", width=width)
    return TrainConfig(model=spec, dataset="spirals", optimizer="adam", lr=1e-3, weight_decay=0.0,
                       batch_size=128, seed=0, device=device, test_every=10**5)
