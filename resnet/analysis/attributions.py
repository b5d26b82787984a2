"""Attributions with Captum: which blocks carry a prediction, and which pixels it rests on.

Per block: Captum's LayerConductance on the output of each block's residual function F (the last
response tap, after BN and before the addition), summed over the neurons of that output. Summed
over every neuron of a layer that all paths cross, conductance adds up to the whole change of the
target logit from the baseline to the input (the completeness of integrated gradients). In a plain
net every block is such a layer, so each carries all of it; in a residual net the shortcut
bypasses F, and the share through F_i says how much of the prediction flows through block i's
own computation.

Per pixel: IntegratedGradients (zero baseline, i.e. the mean image of the standardised data) and
Saliency (|d logit / d pixel|) for chosen test images, for both twins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from captum.attr import IntegratedGradients, LayerConductance, Saliency
from torch import nn

from resnet.analysis.pairs import Pair, working_copy
from resnet.analysis.results import MAX_IMAGES, SAMPLES, STEPS, BlockAttribution, InputAttribution
from resnet.checks import int_in
from resnet.nets import ResidualNet

INTERNAL_BATCH = 512  # images x integration steps per forward inside Captum: bounds memory
Progress = Callable[[float, str], None]


def branch_output(block: nn.Module) -> nn.Module:
    """The identity tap at the end of a block's residual function F (its last `response*`)."""
    taps = [m for name, m in block.named_children() if name.startswith("response")]
    if not taps:
        raise ValueError(f"{type(block).__name__} has no response taps to attribute to")
    return taps[-1]


def check_attribution_settings(samples: int, n_steps: int, indices: Sequence[int]) -> None:
    """Raise a ValueError naming the bounds unless the settings are valid (indices checked against 0 here,
    against the test set's size once the pair is known)."""
    int_in("test images for the bars", samples, *SAMPLES)
    int_in("integration steps", n_steps, *STEPS)
    _check_indices(indices, None)


def _check_indices(indices: Sequence[int], n_test: int | None) -> None:
    if not 1 <= len(indices) <= MAX_IMAGES:
        raise ValueError(f"choose between 1 and {MAX_IMAGES} test images, got {len(indices)}")
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0 or (n_test is not None and i >= n_test):
            top = "" if n_test is None else f" and {n_test - 1}"
            raise ValueError(f"test image indices must be whole numbers between 0{top}, got {i!r}")


def block_attributions(pair: Pair, *, samples: int = 32, n_steps: int = 32,
                       on_progress: Progress | None = None) -> BlockAttribution:
    """LayerConductance through each block's F for the first `samples` test images, both twins."""
    int_in("test images for the bars", samples, *SAMPLES)
    int_in("integration steps", n_steps, *STEPS)
    x = pair.data.test_x[:samples].clone().requires_grad_(True)
    target = pair.data.test_y[:samples]
    n_blocks = len(pair.residual.blocks)
    share = {}
    for t, (name, frozen) in enumerate(pair.nets()):
        net = working_copy(frozen)
        baseline = torch.zeros_like(x)
        with torch.no_grad():
            change = _logit(net, x, target) - _logit(net, baseline, target)  # (N,)
        per_block = []
        for i, block in enumerate(net.blocks):
            # Conductance sums differences of the layer between consecutive steps: trapezoid steps include
            # the baseline and the input, Gauss-Legendre's (Captum's default) do not and lose both ends.
            conductance = LayerConductance(net, branch_output(block)).attribute(
                x, baselines=baseline, target=target, n_steps=n_steps, method="riemann_trapezoid",
                internal_batch_size=internal_batch_size(len(x)))
            per_block.append(conductance.flatten(1).sum(1).detach())  # (N,)
            if on_progress is not None:
                on_progress((t * n_blocks + i + 1) / (2 * n_blocks), f"{name} net: block {i + 1} of {n_blocks}")
        # Ratios of batch sums: a per-image ratio explodes where an image's logit barely moves.
        share[name] = (torch.stack(per_block).sum(1) / change.sum()).cpu().numpy()
    return BlockAttribution(pair.residual.block_names(), share, samples, n_steps)


def input_attributions(pair: Pair, indices: Sequence[int], *, n_steps: int = 64) -> InputAttribution:
    """Integrated gradients and saliency of the test images at `indices`, for their true labels."""
    _check_indices(indices, len(pair.data.test_y))
    int_in("integration steps", n_steps, *STEPS)
    if not pair.data.is_image:
        raise ValueError(f"input attributions draw images; {pair.data.name!r} has none")
    idx = torch.tensor(list(indices), device=pair.data.test_x.device)
    x, target = pair.data.test_x[idx].clone().requires_grad_(True), pair.data.test_y[idx]
    baseline = torch.zeros_like(x)
    ig, sal, delta, change, predicted = {}, {}, {}, {}, {}
    for name, frozen in pair.nets():
        net = working_copy(frozen)
        attr, d = IntegratedGradients(net).attribute(
            x, baselines=baseline, target=target, n_steps=n_steps, internal_batch_size=internal_batch_size(len(x)),
            return_convergence_delta=True)
        ig[name] = attr.sum(1).detach().cpu().numpy()
        delta[name] = d.detach().cpu().numpy()
        sal[name] = Saliency(net).attribute(x, target=target, abs=True).sum(1).detach().cpu().numpy()
        with torch.no_grad():
            change[name] = (_logit(net, x, target) - _logit(net, baseline, target)).cpu().numpy()
            predicted[name] = net(x).argmax(1).tolist()
    return InputAttribution(
        indices=list(indices), images=x.detach().mean(1).cpu().numpy(), labels=target.tolist(), predicted=predicted,
        integrated_gradients=ig, saliency=sal, delta=delta, output_change=change,
    )


def internal_batch_size(images: int) -> int:
    """Captum's internal batch (images x steps per forward): about INTERNAL_BATCH, at least two steps."""
    return max(2, INTERNAL_BATCH // images) * images


def _logit(net: ResidualNet, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The logit of each sample's target class; (N,)."""
    return net(x).gather(1, target[:, None]).squeeze(1)
