"""Probe one batch through a zoo model: per-block gradients, the gradient identity, Jacobian spectra.

Everything returned is numpy or plain Python, so the report crosses a process boundary (a job)
and reaches a page without torch. One training step's statistics, as `Probe` records them
(batch norm in training mode), without an optimiser step. Then, per block:

- the gradient identity, checked on the block's own input with a random readout r (L = <r, y>):
  ResNet blocks y = relu(F(x) + S(x)): dL/dx = (dF/dx + dS/dx)^T dL/ds at the sum s (S = I for an
  identity shortcut, He et al. 2015 eq. 1); DenseNet layers y = [x, H(x)]: dL/dx = dL/dy_x +
  (dH/dx)^T dL/dy_H, the concatenation passing the old channels' gradient through unchanged.
- the top singular values of the block's Jacobian at one example, by subspace (power) iteration
  on J^T J with forward- and reverse-mode products, batch norm as at test time: with the skip
  (dF/dx + dS/dx; for DenseNet [I; dH/dx], whose singular values are sqrt(1 + sigma_H^2)) and
  without it (dF/dx, what the block is with its shortcut switched off).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.densenet import _DenseLayer

from resnet import zoo
from resnet.blocks import ResidualUnit
from resnet.checkpoint_runs import zoo_spec
from resnet.checks import choice, int_in
from resnet.data import IMAGE_DATASETS, load_dataset
from resnet.foreign import SwitchableBasicBlock, SwitchableBottleneck
from resnet.probes import Probe
from resnet.query import CUSTOM, Setup, setup_to_query
from resnet.trainer import TrainConfig

PROBE_DATA = ("digits", "random", "cifar10", "mnist")  # cifar10 / mnist only from a local copy
MAX_PROBE_BATCH = 64
JACOBIAN_ITERATIONS = 3  # power iterations per block: the leading singular value settles in a few
MAX_JACOBIAN_ITERATIONS = 50
JACOBIAN_VECTORS = 1  # singular values per block: each one more costs a full set of products
IDENTITY_EXAMPLES = 2  # the identity holds per input; two examples keep batch norm's training mode meaningful
LIVE_STEPS = 200  # a live run of a zoo model: long enough for the twins to part, short enough for a CPU
LIVE_BATCH = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet normalisation (the CIFAR layout uses it too)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ProbeReport:
    """One probed batch, numpy only: per-block arrays (B,), per-layer (L,), spectra (B, k)."""

    arch: str
    block_names: list[str]
    skip_kinds: list[str]  # "sum" (ResNet), "concat" (DenseNet layer), "none" (DenseNet transition)
    switchable: bool
    input_shape: tuple[int, ...]  # (B, C, H, W)
    data: str
    num_classes: int
    loss: float
    grad_norm: np.ndarray  # ||dL/dtheta|| of each block's parameters
    input_grad_norm: np.ndarray  # ||dL/dx|| at each block input
    act_mean: np.ndarray
    act_std: np.ndarray
    layer_names: list[str]
    layer_grad_norm: np.ndarray
    identity_error: np.ndarray  # |autograd - identity| / |autograd| per block; NaN where there is no skip
    sigma_skip: np.ndarray  # top singular values with the skip; NaN rows where there is none
    sigma_plain: np.ndarray  # top singular values of the block without its skip
    weights_notes: tuple[str, ...]
    head_replaced: bool
    seconds: dict[str, float]  # "build", "probe", "identity", "jacobian"


def skip_kind(block: torch.nn.Module) -> str:
    """How a block's input reaches its output: "sum", "concat" or "none"."""
    if isinstance(block, SwitchableBasicBlock | SwitchableBottleneck | ResidualUnit):
        return "sum"
    return "concat" if isinstance(block, _DenseLayer) else "none"


def probe_batch(arch: str, *, weights: str | bytes | None = None, num_classes: int | None = None,
                data: str = "digits", input_size: int | None = None, batch: int = 8, seed: int = 0,
                jacobian_iterations: int = JACOBIAN_ITERATIONS,
                progress: Callable[[float, str], None] | None = None) -> ProbeReport:
    """Build `arch` (optionally from a checkpoint), probe one batch of `data`, check and measure each block."""
    choice("data", data, PROBE_DATA)
    size = input_size or zoo.native_input_size(arch)
    int_in("input size", size, zoo.MIN_INPUT_SIZE, zoo.MAX_INPUT_SIZE)
    int_in("batch", batch, 2, MAX_PROBE_BATCH)
    int_in("jacobian iterations", jacobian_iterations, 0, MAX_JACOBIAN_ITERATIONS)
    report = progress or (lambda fraction, text: None)
    seconds = {}
    t0 = time.perf_counter()
    report(0.0, "building the model")
    torch.manual_seed(seed)
    net = zoo.model(arch, weights=weights, num_classes=num_classes)
    classes = net.head[-1].out_features if hasattr(net, "head") else _classifier(net).out_features
    x, y = probe_inputs(data, size, batch, classes, seed)
    seconds["build"] = time.perf_counter() - t0

    report(0.1, "one forward and backward pass")
    t0 = time.perf_counter()
    saved = {k: v.clone() for k, v in net.named_buffers()}  # the probe's training-mode pass moves BN statistics
    net.train()
    inputs: list[torch.Tensor] = []
    handles = [b.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach())) for b in net.blocks]
    with Probe(net) as probe:
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        probe.step()
    for h in handles:
        h.remove()
    row = probe.history()
    seconds["probe"] = time.perf_counter() - t0

    kinds = [skip_kind(b) for b in net.blocks]
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    errors = np.array([identity_error(b, k, xi[:IDENTITY_EXAMPLES], g)
                       for b, k, xi in zip(net.blocks, kinds, inputs, strict=True)])
    seconds["identity"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with torch.no_grad():
        for k, v in net.named_buffers():
            v.copy_(saved[k])
    net.eval()
    n = len(net.blocks)
    sigma_skip = np.full((n, JACOBIAN_VECTORS), np.nan)
    sigma_plain = np.full((n, JACOBIAN_VECTORS), np.nan)
    if jacobian_iterations:
        for i, (block, kind) in enumerate(zip(net.blocks, kinds, strict=True)):
            report(0.3 + 0.7 * i / n, f"Jacobian of {net.block_names()[i]}")
            sigma_plain[i], sigma_skip[i] = block_spectra(block, kind, inputs[i][:1], jacobian_iterations, g)
    seconds["jacobian"] = time.perf_counter() - t0
    report(1.0, "done")
    info = getattr(net, "weights_info", None)
    return ProbeReport(
        arch=arch, block_names=net.block_names(), skip_kinds=kinds, switchable=arch in zoo.SWITCHABLE,
        input_shape=tuple(x.shape), data=data, num_classes=classes, loss=float(loss.detach()),
        grad_norm=row.grad_norm[0], input_grad_norm=row.input_grad_norm[0], act_mean=row.act_mean[0],
        act_std=row.act_std[0], layer_names=row.layer_names, layer_grad_norm=row.layer_grad_norm[0],
        identity_error=errors, sigma_skip=sigma_skip, sigma_plain=sigma_plain,
        weights_notes=info.notes if info else (), head_replaced=bool(info and info.head_replaced), seconds=seconds)


def live_query(arch: str, *, input_size: int, data: str = "digits", batch: int = LIVE_BATCH,
               steps: int = LIVE_STEPS) -> dict[str, str]:
    """The Gradient flow page's query string that trains `arch` from its initial weights against itself with
    every shortcut off.

    A CIFAR ResNet trains as the lab's own `cifar_resnet` of its depth, at the data set's own size, with
    option A's zero channels after the old ones (the link carries no zero-pad placement).
    """
    choice("model with shortcut switches", arch, zoo.SWITCHABLE)
    cifar = arch in zoo.CIFAR_RESNETS
    spec = zoo_spec(arch, input_size=0 if cifar else input_size, zero_pad="end")
    dataset = data if data in IMAGE_DATASETS else IMAGE_DATASETS[0]  # random inputs have nothing to learn
    return setup_to_query(Setup(CUSTOM, TrainConfig(model=spec, dataset=dataset, batch_size=batch), steps))


def _classifier(net: torch.nn.Module) -> torch.nn.Linear:
    return net.classifier if hasattr(net, "classifier") else net.fc


def probe_inputs(data: str, size: int, batch: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (B, 3, size, size) in ImageNet normalisation, and labels below `num_classes`."""
    g = torch.Generator().manual_seed(seed)
    if data == "random":
        return torch.randn(batch, 3, size, size, generator=g), torch.randint(0, num_classes, (batch,), generator=g)
    assert data in IMAGE_DATASETS
    ds = load_dataset(data)  # cifar10 / mnist: a local copy or a clear error naming the offline choices
    if ds.num_classes > num_classes:
        raise ValueError(f"{data} has {ds.num_classes} classes and the model {num_classes}; "
                         f"give the model at least {ds.num_classes} (num_classes)")
    pick = torch.randperm(len(ds.train_x), generator=g)[:batch]
    x, y = ds.train_x[pick], ds.train_y[pick]
    # load_dataset standardises each channel; its minimum and maximum over the set are pixels 0 and 1.
    lo = ds.train_x.amin(dim=(0, 2, 3), keepdim=True)
    hi = ds.train_x.amax(dim=(0, 2, 3), keepdim=True)
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return ((x - mean) / std).contiguous(), y


def _parts(block: torch.nn.Module) -> tuple[Callable, Callable | None, Callable]:
    """(F, S, post) of a block that sums: y = post(F(x) + S(x)); S None for the identity."""
    if isinstance(block, ResidualUnit):
        if block.preact and block.shortcut_on and not isinstance(block.shortcut, torch.nn.Identity):
            raise ValueError("a pre-activation projection shares F's opening BN-ReLU; not decomposed here")
        shortcut = None if isinstance(block.shortcut, torch.nn.Identity) else block.shortcut
        return (lambda t: block.residual(block.pre(t))), shortcut, block.post
    skip = None if block.downsample is None else block.downsample
    return block.residual, skip, F.relu


def identity_error(block: torch.nn.Module, kind: str, x: torch.Tensor, g: torch.Generator) -> float:
    """|dL/dx by autograd - dL/dx by the block's gradient identity| / |autograd|, L = <r, y>; NaN without a skip."""
    if kind == "none":
        return float("nan")
    x = x.detach().requires_grad_(True)
    if kind == "concat":
        new = block(x)
        r = torch.randn(new.shape[0], x.shape[1] + new.shape[1], *new.shape[2:], generator=g)
        (auto,) = torch.autograd.grad((r * torch.cat([x, new], 1)).sum(), x)
        (through_h,) = torch.autograd.grad((r[:, x.shape[1]:] * block(x)).sum(), x)
        ident = r[:, : x.shape[1]] + through_h
    else:
        branch, skip, post = _parts(block)
        out = block(x)
        r = torch.randn(out.shape, generator=g)
        (auto,) = torch.autograd.grad((r * out).sum(), x)
        with torch.no_grad():
            s = branch(x) + (x if skip is None else skip(x))
        s.requires_grad_(True)
        (grad_s,) = torch.autograd.grad((r * post(s)).sum(), s)
        ident = torch.autograd.grad((grad_s * branch(x)).sum(), x)[0]
        ident = ident + (grad_s if skip is None else torch.autograd.grad((grad_s * skip(x)).sum(), x)[0])
    return float(torch.linalg.vector_norm(auto - ident) / torch.linalg.vector_norm(auto))


def block_spectra(block: torch.nn.Module, kind: str, x: torch.Tensor, iterations: int,
                  g: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Top singular values of the block's Jacobian at `x` (one example, eval mode): without and with its skip.

    J^T u is one backward pass; J v the backward of that backward (the graph of J^T u0 is linear
    in u0, so differentiating it by u0 gives J v): plain autograd, built once per block.
    """
    k = JACOBIAN_VECTORS
    with_skip = kind == "sum"
    branch, skip = (_parts(block)[:2]) if with_skip else (block, None)
    groups = 2 if with_skip else 1  # plain vectors, then vectors of dF/dx + dS/dx, in one batch
    # Eval-mode batch norm: the copies of x do not interact, so each vector gets its own Jacobian product.
    xs = x.detach().expand(groups * k, *x.shape[1:]).clone().requires_grad_(True)
    with torch.enable_grad():
        out = branch(xs)
        if with_skip:
            out = torch.cat([out[:k], out[k:] + (xs[k:] if skip is None else skip(xs[k:]))])
        u0 = torch.zeros_like(out, requires_grad=True)
        (pulled,) = torch.autograd.grad(out, xs, u0, create_graph=True)  # J^T u0

    def apply(v: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(pulled, u0, v, retain_graph=True)[0]  # J v

    def apply_t(u: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(out, xs, u, retain_graph=True)[0]  # J^T u

    v = torch.randn(xs.shape, generator=g)
    for _ in range(iterations):
        v = _orthonormal(apply_t(apply(_orthonormal(v, groups))), groups)
    u = apply(_orthonormal(v, groups)).reshape(groups, k, -1)
    sigmas = [torch.linalg.svdvals(u[i].detach().double()).numpy() for i in range(groups)]
    plain = sigmas[0]
    if kind == "concat":
        return plain, np.sqrt(1 + plain**2)  # [I; J]^T [I; J] = I + J^T J
    return plain, sigmas[1] if with_skip else np.full(k, np.nan)


def _orthonormal(v: torch.Tensor, groups: int) -> torch.Tensor:
    """Orthonormalise each group's k vectors (QR), keeping the batch layout."""
    flat = v.reshape(groups, v.shape[0] // groups, -1)  # (G, k, D)
    q, _ = torch.linalg.qr(flat.transpose(1, 2))  # (G, D, k)
    return q.transpose(1, 2).reshape(v.shape)
