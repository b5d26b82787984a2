"""Lesion study (Veit et al. 2016): test accuracy after deleting blocks of a trained net.

Deleting a residual block removes its residual function F: the block computes its shortcut
alone, y = x (or the zero-pad / projection where the shape changes), through the same final
activation. A plain block has no shortcut, so deleting it means skipping it: y = x where shapes
agree and, where the block changes shape, the parameter-free subsample-and-zero-pad of option A.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import torch
from torch import nn

from resnet.analysis.pairs import Pair
from resnet.analysis.results import MAX_DRAWS, MAX_K_VALUES, LesionResult
from resnet.blocks import ResidualUnit
from resnet.checks import int_in
from resnet.data import eval_chunks
from resnet.nets import ResidualNet
from resnet.shortcuts import ZeroPadShortcut

Progress = Callable[[float, str], None]


def skip_path(block: ResidualUnit) -> Callable[[torch.Tensor], torch.Tensor]:
    """What a deleted block computes: its shortcut alone (residual), or y = x / option A's zero-pad (plain)."""
    if block.shortcut is not None and block.shortcut_on:
        project_pre = block.preact and isinstance(block.shortcut, nn.Sequential)
        return lambda x: block.post(block.shortcut(block.pre(x) if project_pre else x))
    in_planes, out_planes, stride = _shape_change(block)
    if stride == 1 and in_planes == out_planes:
        return lambda x: x
    return ZeroPadShortcut(in_planes, out_planes, stride)


def changes_shape(block: ResidualUnit) -> bool:
    """Whether the block's output has another shape than its input (a stage's first block)."""
    in_planes, out_planes, stride = _shape_change(block)
    return stride != 1 or in_planes != out_planes


def _shape_change(block: ResidualUnit) -> tuple[int, int, int]:
    """(in channels, out channels, stride) of the residual function F; (0, 0, 1) for an MLP unit."""
    convs = [m for name, m in block.named_modules() if isinstance(m, nn.Conv2d) and not name.startswith("shortcut")]
    if not convs:
        return 0, 0, 1
    stride = int(np.prod([c.stride[0] for c in convs]))
    return convs[0].in_channels, convs[-1].out_channels, stride


@torch.no_grad()
def lesioned_logits(net: ResidualNet, x: torch.Tensor, deleted: Collection[int]) -> torch.Tensor:
    """The net's logits with the blocks in `deleted` replaced by their skip path; the net is not changed."""
    h = net.stem(x)
    for i, block in enumerate(net.blocks):
        h = skip_path(block)(h) if i in deleted else block(h)
    return net.head(h)


def lesion_accuracy(net: ResidualNet, pair: Pair, deleted: Collection[int]) -> float:
    """Test accuracy of `net` with `deleted` blocks removed."""
    right = sum(int((lesioned_logits(net, x, deleted).argmax(1) == y).sum()) for x, y in eval_chunks(pair.data))
    return right / len(pair.data.test_y)


def check_draws(draws: int) -> int:
    """`draws` if it is a valid number of random draws per k, else a ValueError naming the range."""
    return int_in("random draws", draws, 1, MAX_DRAWS)


def deletion_counts(n_blocks: int, points: int = MAX_K_VALUES) -> np.ndarray:
    """The k of the random-deletion curve: every k from 0 to n_blocks, or `points` of them spread
    geometrically (dense where accuracy changes fastest, at small k) when there are more blocks."""
    if n_blocks + 1 <= points:
        return np.arange(n_blocks + 1)
    return np.unique(np.r_[0, np.round(np.geomspace(1, n_blocks, points - 1)).astype(int)])


def lesion_study(pair: Pair, *, draws: int = 10, seed: int = 0, on_progress: Progress | None = None) -> LesionResult:
    """Accuracy after deleting each block, and after deleting k random blocks (`draws` draws per k)."""
    check_draws(draws)
    int_in("seed", seed, 0, 2**31 - 1)
    n_blocks = len(pair.residual.blocks)
    ks = deletion_counts(n_blocks)
    rng = np.random.default_rng(seed)
    # Both twins lose the same blocks in each draw, so their curves differ only by the shortcut.
    subsets = [[rng.choice(n_blocks, size=k, replace=False).tolist() for _ in range(draws)] for k in ks]
    total = 2 * (1 + n_blocks + len(ks) * draws)
    done = 0
    intact, single, random = {}, {}, {}
    for name, net in pair.nets():
        intact[name] = lesion_accuracy(net, pair, ())
        single_acc = []
        for i in range(n_blocks):
            single_acc.append(lesion_accuracy(net, pair, (i,)))
        done += 1 + n_blocks
        if on_progress is not None:
            on_progress(done / total, f"{name} net: deleted each of {n_blocks} blocks")
        rows = []
        for k, draws_k in zip(ks, subsets, strict=True):
            rows.append([lesion_accuracy(net, pair, d) for d in draws_k])
            done += draws
            if on_progress is not None:
                on_progress(done / total, f"{name} net: deleted {k} random blocks, {draws} draws")
        single[name] = np.asarray(single_acc)
        random[name] = np.asarray(rows)
    counts = torch.bincount(pair.data.test_y, minlength=pair.data.num_classes)
    return LesionResult(
        block_names=pair.residual.block_names(), intact=intact, single=single, k=ks, random=random,
        shape_changing=[i for i, b in enumerate(pair.residual.blocks) if changes_shape(b)],
        chance=float(counts.max()) / len(pair.data.test_y),
    )
