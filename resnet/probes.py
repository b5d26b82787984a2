"""Per-block gradient and activation statistics, recorded every step without per-layer host syncs.

The network records its own block inputs into `model.taps` and reduces each block-input gradient
to its norm as backward passes (`model.input_grad_norms`). The probe's tap list reduces each
block output to its sum and norm as it arrives, while it is still in cache, and the parameter
gradients go to a few stacked norms (same-shaped tensors together), so a step adds a fixed handful
of kernels beyond three per block. Rows stay in a device buffer and reach the host one chunk at a time.
"""

from __future__ import annotations

from collections import defaultdict
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


# Below this many elements a tensor's norm costs less than dispatching it alone (a CPU runs
# `_foreach_norm` as one kernel per tensor), so same-shaped ones are stacked and reduced at once.
STACK_NUMEL = 1 << 16


class _TapList(list):
    """`model.taps` while a probe records: a list that also reduces each block output as it arrives.

    The output was just written, so it is in cache: after backward has streamed the rest of the
    step through memory, the same two reductions cost about twice as much on a CPU.
    """

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.numels: list[int] = []  # elements of each block output, for the mean
        self._place(torch.device("cpu"))

    def _place(self, device: torch.device) -> None:
        self.stats = torch.zeros(2, self.blocks, device=device)  # (2, B): sum and L2 norm of each output
        self._slots = [list(row.unbind()) for row in self.stats]  # 0-d views the reductions write into

    def append(self, x: torch.Tensor) -> None:
        """Keep `x`; from the second tensor on (block outputs), reduce it into its slots."""
        i = len(self) - 1  # taps[0] is block 0's input; taps[i + 1] is block i's output
        super().append(x)
        if i < 0:
            if x.device != self.stats.device:
                self._place(x.device)
            self.numels.clear()
        elif i < self.blocks:
            self.reduce(i, x)

    def reduce(self, i: int, x: torch.Tensor) -> None:
        """Write the sum and norm of block `i`'s output `x` (any float dtype, summed in float32)."""
        x = x.detach()
        torch.sum(x, None, dtype=torch.float32, out=self._slots[0][i])
        torch.linalg.vector_norm(x, dtype=torch.float32, out=self._slots[1][i])
        self.numels.append(x.numel())

    def clear(self) -> None:
        """Drop the tensors (the slots are overwritten by the next pass)."""
        super().clear()
        self.numels.clear()


def _norm_groups(params: list[nn.Parameter]) -> list[list[int]]:
    """Indices of `params` in the groups their gradient norms are taken in: small tensors of one shape
    and dtype together, every other tensor in the last group (one `_foreach_norm`)."""
    same: dict[tuple, list[int]] = defaultdict(list)
    rest: list[int] = []
    for k, p in enumerate(params):
        if p.numel() <= STACK_NUMEL:
            same[(p.shape, p.dtype)].append(k)
        else:
            rest.append(k)
    groups = [ks for ks in same.values() if len(ks) > 1]
    return groups + [rest + [k for ks in same.values() if len(ks) == 1 for k in ks]]


class Probe:
    """Context manager recording, per block and step, gradient norms and activation statistics."""

    def __init__(self, model: ResidualNet, *, chunk: int = 64) -> None:
        if not isinstance(model, ResidualNet):
            raise ValueError("Probe needs a ResidualNet (from resnet.nets); got " + type(model).__name__)
        self.model = model
        self.chunk = chunk
        self.names = model.block_names()
        n_blocks = len(model.blocks)
        self._taps = _TapList(n_blocks)
        block_of = {id(p): i for i, b in enumerate(model.blocks) for p in b.parameters()}
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._groups = _norm_groups(self._params)
        order = [self._params[k] for ks in self._groups for k in ks]  # the parameter at each place of the norms
        place = {id(p): j for j, p in enumerate(order)}
        layers = layer_weights(model)
        self.layer_names = [name for name, _ in layers]
        # Parameters outside the blocks (stem, head) fall in an extra bin that is dropped.
        self._host_index = {"bin": torch.tensor([block_of.get(id(p), n_blocks) for p in order]),
                            "layer": torch.tensor([place[id(w)] for _, w in layers], dtype=torch.long)}
        self._width = 4 * n_blocks + len(self.layer_names)
        self._buf: torch.Tensor | None = None
        self._filled = 0
        self._host: list[np.ndarray] = []
        self._drained = 0
        self._drained_chunks = 0
        self._step_ids: list[int] = []
        self._count = 0
        self._numels: list[int] = []
        # False: a drain hands its rows over for good (a worker whose rows go to the server and the store);
        # the probe then holds at most a chunk, not 2 KB a step for as long as the run lasts.
        self.keep_drained = True
        self._released = 0  # rows handed over and no longer held

    def __enter__(self) -> Probe:
        self._taps.clear()
        self.model.taps = self._taps
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.taps = None

    def _place(self, device: torch.device) -> None:
        """Device copies of the row buffer, the index tensors and the zeros that stand in for missing grads."""
        self._buf = torch.empty(self.chunk, self._width, device=device)
        self._bin = self._host_index["bin"].to(device)
        self._layer_idx = self._host_index["layer"].to(device)
        self._per_block = torch.zeros(len(self.names) + 1, device=device)
        self._zero = torch.zeros((), device=device)
        self._group_zeros = [torch.zeros_like(self._params[ks[0]], device=device) for ks in self._groups[:-1]]
        self._numels = []

    @torch.no_grad()
    def step(self, step: int | None = None) -> None:
        """Record this step's statistics; call after backward and before the optimiser step."""
        taps = self.model.taps
        if not taps:
            raise RuntimeError("Probe.step() needs a forward and backward pass inside `with Probe(...)`")
        n_blocks = len(self.names)
        if len(taps) != n_blocks + 1:
            raise RuntimeError(f"Probe.step() takes one forward pass a step: the taps hold {len(taps)} tensors "
                               f"for {n_blocks} blocks")
        device = taps[0].device
        if self._buf is None or self._buf.device != device:
            self._flush()
            self._place(device)
        if taps is not self._taps:  # a plain list put there since: reduce its outputs now, then take it back
            self._taps.clear()
            self._taps.append(taps[0])
            for i, x in enumerate(taps[1:]):
                self._taps.reduce(i, x)
            self.model.taps = self._taps
        norms = self._grad_norms()  # (P,) in the order of self._groups
        sq = norms.square()
        per_block = self._per_block.zero_().index_add_(0, self._bin, sq)[:n_blocks].sqrt_()
        input_norms = torch.stack([n if n is not None else self._zero for n in self.model.input_grad_norms])  # (B,)
        total, norm = self._taps.stats  # (B,) each
        count = self._output_numels(device)
        mean = total / count
        std = (norm.square() / count - mean.square()).clamp_min_(0).sqrt_()
        torch.cat([per_block, input_norms, mean, std, norms[self._layer_idx]], out=self._buf[self._filled])
        self._filled += 1
        self._step_ids.append(self._count if step is None else step)
        self._count += 1
        self._taps.clear()
        if self._filled == self.chunk:
            self._flush()

    def _grad_norms(self) -> torch.Tensor:
        """The L2 norm of every parameter gradient (zero where there is none), one vector in group order."""
        grads = [p.grad for p in self._params]
        parts = []
        for ks, zero in zip(self._groups[:-1], self._group_zeros, strict=True):
            stacked = torch.stack([zero if grads[k] is None else grads[k] for k in ks])  # (n, *shape)
            parts.append(torch.linalg.vector_norm(stacked, dim=tuple(range(1, stacked.dim())), dtype=torch.float32))
        if self._groups[-1]:
            alone = [self._zero if grads[k] is None else grads[k] for k in self._groups[-1]]
            parts.append(torch.stack(torch._foreach_norm(alone, dtype=torch.float32)))
        return torch.cat(parts)

    def _output_numels(self, device: torch.device) -> torch.Tensor:
        """Elements of each block output as a device tensor, rebuilt only when the shapes change."""
        if self._taps.numels != self._numels:
            self._numels = list(self._taps.numels)
            self._numel_tensor = torch.tensor(self._numels, dtype=torch.float32, device=device)
        return self._numel_tensor

    def _flush(self) -> None:
        if self._buf is not None and self._filled:
            self._host.append(self._buf[: self._filled].cpu().numpy().copy())  # one sync per chunk
        self._filled = 0

    def history(self) -> ProbeHistory:
        """Everything recorded so far, on the host (a RuntimeError once drains have handed rows over)."""
        if self._released:
            raise RuntimeError(f"the probe handed its first {self._released} rows over as it drained them "
                               "(keep_drained is off): read them where they went")
        self._flush()
        return self._as_history(self._host, 0)

    def drain(self) -> ProbeHistory:
        """Rows recorded since the previous drain, on the host (for live views); O(new rows)."""
        self._flush()
        chunks, self._drained_chunks = self._host[self._drained_chunks :], len(self._host)
        start, self._drained = self._drained, len(self._step_ids)
        drained = self._as_history(chunks, start)
        if not self.keep_drained:
            self._released += len(drained)
            self._host, self._step_ids, self._drained_chunks, self._drained = [], [], 0, 0
        return drained

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

