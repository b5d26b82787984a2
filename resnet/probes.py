"""Per-block gradient and activation statistics, recorded every step without per-layer host syncs.

The network records its own block inputs (`ResidualNet.taps`) and reduces each block-input
gradient to its norm as backward passes (`ResidualNet.input_grad_norms`), so a step costs a
handful of batched kernels: one `_foreach_norm` over every parameter gradient, one over the
block outputs plus a sum of each for their mean and std. Rows stay in a device buffer and
reach the host one chunk at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from resnet.nets import ResidualNet

STATS = ("grad_norm", "input_grad_norm", "act_mean", "act_std")


@dataclass
class ProbeHistory:
    """What a probe recorded: arrays shaped (steps, blocks), or (steps, layers), float32."""

    names: list[str]
    layer_names: list[str]
    steps: np.ndarray  # (S,) int64, the training step of each row
    grad_norm: np.ndarray  # (S, B) L2 norm of the block's parameter gradients
    input_grad_norm: np.ndarray  # (S, B) L2 norm of dL/dx at the block's input
    act_mean: np.ndarray  # (S, B) mean of the block's output
    act_std: np.ndarray  # (S, B) std of the block's output
    layer_grad_norm: np.ndarray  # (S, L) weight-gradient norm of each conv/linear layer

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def concat(cls, parts: list[ProbeHistory]) -> ProbeHistory:
        """One history of `parts` (non-empty, same net) in order, as drained one after another."""
        first = parts[0]
        if len(parts) == 1:
            return first
        join = {name: np.concatenate([getattr(p, name) for p in parts])
                for name in ("steps", *STATS, "layer_grad_norm")}
        return cls(names=list(first.names), layer_names=list(first.layer_names), **join)


def layer_weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weight of every parameterised layer (conv or linear), named by module path."""
    return [(name, m.weight) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class Probe:
    """Context manager recording, per block and step, gradient norms and activation statistics."""

    def __init__(self, model: ResidualNet, *, chunk: int = 64) -> None:
        if not isinstance(model, ResidualNet):
            raise ValueError("Probe needs a ResidualNet (from resnet.nets); got " + type(model).__name__)
        self.model = model
        self.chunk = chunk
        self.names = model.block_names()
        n_blocks = len(model.blocks)
        block_of = {id(p): i for i, b in enumerate(model.blocks) for p in b.parameters()}
        self._params = [p for p in model.parameters() if p.requires_grad]
        # Parameters outside the blocks (stem, head) fall in an extra bin that is dropped.
        self._bin = torch.tensor([block_of.get(id(p), n_blocks) for p in self._params])
        layers = layer_weights(model)
        self.layer_names = [name for name, _ in layers]
        index = {id(p): k for k, p in enumerate(self._params)}
        self._layer_idx = torch.tensor([index[id(w)] for _, w in layers], dtype=torch.long)
        self._width = 4 * n_blocks + len(layers)
        self._buf: torch.Tensor | None = None
        self._filled = 0
        self._host: list[np.ndarray] = []
        self._drained = 0
        self._drained_chunks = 0
        self._step_ids: list[int] = []
        self._count = 0

    def __enter__(self) -> Probe:
        self.model.taps = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.taps = None

    @torch.no_grad()
    def step(self, step: int | None = None) -> None:
        """Record this step's statistics; call after backward and before the optimiser step."""
        taps = self.model.taps
        if not taps:
            raise RuntimeError("Probe.step() needs a forward and backward pass inside `with Probe(...)`")
        device = taps[0].device
        if self._buf is None or self._buf.device != device:
            self._flush()
            self._buf = torch.empty(self.chunk, self._width, device=device)
            self._bin = self._bin.to(device)
            self._layer_idx = self._layer_idx.to(device)
        n_blocks = len(taps) - 1
        zero = torch.zeros((), device=device)
        grads = [p.grad if p.grad is not None else zero for p in self._params]
        norms = torch.stack(torch._foreach_norm(grads))  # (P,)
        per_block = torch.zeros(n_blocks + 1, device=device).index_add_(0, self._bin, norms.square())
        input_norms = torch.stack([n if n is not None else zero for n in self.model.input_grad_norms])  # (B,)
        std, mean = _std_mean(taps[1:])
        row = torch.cat([per_block[:-1].sqrt(), input_norms, mean, std, norms[self._layer_idx]])
        self._buf[self._filled].copy_(row)
        self._filled += 1
        self._step_ids.append(self._count if step is None else step)
        self._count += 1
        taps.clear()
        if self._filled == self.chunk:
            self._flush()

    def _flush(self) -> None:
        if self._buf is not None and self._filled:
            self._host.append(self._buf[: self._filled].cpu().numpy().copy())  # one sync per chunk
        self._filled = 0

    def history(self) -> ProbeHistory:
        """Everything recorded so far, on the host."""
        self._flush()
        return self._as_history(self._host, 0)

    def drain(self) -> ProbeHistory:
        """Rows recorded since the previous drain, on the host (for live views); O(new rows)."""
        self._flush()
        chunks, self._drained_chunks = self._host[self._drained_chunks :], len(self._host)
        start, self._drained = self._drained, len(self._step_ids)
        return self._as_history(chunks, start)

    def _as_history(self, chunks: list[np.ndarray], start: int) -> ProbeHistory:
        rows = np.concatenate(chunks) if chunks else np.zeros((0, self._width), np.float32)
        rows = rows.astype(np.float32, copy=False)
        b = len(self.names)
        return ProbeHistory(
            names=list(self.names),
            layer_names=list(self.layer_names),
            steps=np.asarray(self._step_ids[start:], dtype=np.int64),
            grad_norm=rows[:, 0:b],
            input_grad_norm=rows[:, b : 2 * b],
            act_mean=rows[:, 2 * b : 3 * b],
            act_std=rows[:, 3 * b : 4 * b],
            layer_grad_norm=rows[:, 4 * b :],
        )


def _std_mean(outputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Std and mean (over all elements) of each tensor, from one batched sum of squares and one sum each.

    torch.std_mean's Welford reduction runs ~20x slower than these two plain reductions on a CPU,
    and stacking the outputs would copy them. Var = E[x^2] - E[x]^2 in float32 loses relative
    accuracy ~1e-7 * mean^2 / var, far below what a plot shows unless |mean| > ~100 std.
    """
    count = torch.tensor([o.numel() for o in outputs], dtype=torch.float32, device=outputs[0].device)
    mean = torch.stack([o.sum(dtype=torch.float32) for o in outputs]) / count
    mean_square = torch.stack(torch._foreach_norm(outputs, dtype=torch.float32)).square() / count
    return (mean_square - mean.square()).clamp_min(0).sqrt(), mean
