"""Per-block gradient and activation statistics, recorded every step without per-layer host syncs.

The network appends its block inputs to `model.taps`; the probe's tap list hooks each one's
gradient, and the hook reduces, as backward passes, the gradient to its norm and the input (the
previous block's output) to its sum and norm: one Python call and three kernels a block. The
parameter gradients go to a few stacked norms (same-shaped tensors together), so a step adds a
fixed handful of kernels beyond those. Rows stay in a device buffer and reach the host one chunk
at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import partial

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
    """`model.taps` while a probe records: the block inputs and the last block's output, each block
    input with a gradient hook that reduces it as backward passes.

    The hook on block i's input writes ||dL/dx|| and, since that input is block i-1's output, the
    output's sum and norm: one Python call a block for all three (reducing the output as it arrives
    in the forward pass costs the same kernels and a second call). The input is let go once reduced,
    so it is freed when backward is done with it, as without a probe. A tensor read during backward
    must not have changed since the forward pass: autograd refuses an in-place change to a tensor
    it saved (each block's first layer saves its input), and the version check below any other.
    """

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.blocks = blocks
        self._hooks = [partial(self._on_grad, i) for i in range(blocks)]
        self.fired = [False] * blocks  # whether each block input's gradient came this pass
        self.numels = [0] * blocks  # elements of each block output, for the mean
        self._versions: list[int] = []
        self._place(torch.device("cpu"))

    def _place(self, device: torch.device) -> None:
        # (4, B): ||dL/dx|| at each block input, then the sum, L2 norm and element count of each block output
        self.stats = torch.zeros(4, self.blocks, device=device)
        self._slots = [list(row.unbind()) for row in self.stats[:3]]  # 0-d views the reductions write into
        self._counted: list[int] = []  # the counts in stats[3]

    def append(self, x: torch.Tensor) -> None:
        """Keep `x` (block input or the last output); hook a block input's gradient."""
        i = len(self)
        list.append(self, x)
        self._versions.append(x._version)
        if i == 0 and x.device != self.stats.device:
            self._place(x.device)
        if i < self.blocks and x.requires_grad:
            if type(x) is torch.Tensor and x.grad_fn is not None and x._backward_hooks is None:
                # What Tensor.register_hook does for a tensor with no hooks yet, less the removable
                # handle we would never use: a third of the cost of being hooked at all (1% of an MLP's step).
                x._backward_hooks = {0: self._hooks[i]}
                x.grad_fn._register_hook_dict(x)
            else:
                x.register_hook(self._hooks[i])

    def _on_grad(self, i: int, grad: torch.Tensor) -> None:
        if i >= len(self):  # a graph that outlived its pass, differentiated again: nothing of it is held
            return
        torch.linalg.vector_norm(grad, dtype=torch.float32, out=self._slots[0][i])
        if i and self[i] is not None:  # None: reduced by an earlier backward pass through this graph
            self.reduce(i - 1)
            self[i] = None
        self.fired[i] = True

    def reduce(self, i: int) -> None:
        """Write the sum and norm of block `i`'s output, taps[i + 1] (any float dtype, summed in float32)."""
        x = self[i + 1]
        if x._version != self._versions[i + 1]:
            raise RuntimeError(f"block {i}'s output was changed in place after the forward pass: the probe "
                               "reads it as backward passes")
        self.numels[i] = x.numel()
        if torch.is_grad_enabled():  # a backward pass that builds a graph (create_graph): keep out of it
            x = x.detach()
        torch.sum(x, None, dtype=torch.float32, out=self._slots[1][i])
        torch.linalg.vector_norm(x, dtype=torch.float32, out=self._slots[2][i])

    def finish(self) -> torch.Tensor:
        """This pass's `stats`, once what no hook wrote is filled: the last output's statistics, inputs
        without a gradient, and the element counts where the shapes changed."""
        self.reduce(self.blocks - 1)
        if not all(self.fired):
            for i, fired in enumerate(self.fired):
                if not fired:
                    self._slots[0][i].zero_()
                    if i:
                        self.reduce(i - 1)
        if self.numels != self._counted:
            self._counted = list(self.numels)
            self.stats[3].copy_(torch.tensor(self._counted, dtype=torch.float32))
        return self.stats

    def clear(self) -> None:
        """Drop the tensors (the slots are overwritten by the next pass)."""
        super().clear()
        self._versions.clear()
        self.fired = [False] * self.blocks


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
        self._params = list(model.parameters())  # a frozen one has no gradient: its norm reads zero
        self._groups = _norm_groups(self._params)
        order = [self._params[k] for ks in self._groups for k in ks]  # the parameter at each place of the norms
        place = {id(p): j for j, p in enumerate(order)}
        layers = layer_weights(model)
        self.layer_names = [name for name, _ in layers]
        # Parameters outside the blocks (stem, head) fall in an extra bin that is dropped.
        self._host_index = {"bin": torch.tensor([block_of.get(id(p), n_blocks) for p in order]),
                            "layer": torch.tensor([place[id(w)] for _, w in layers], dtype=torch.long)}
        self._width = 4 * n_blocks + len(self.layer_names)  # a row as recorded: STATS by block, then layers
        # A row as a step writes it: every parameter's gradient norm, then the tap list's stats. The
        # arithmetic that turns it into a recorded row runs once a chunk, so a step launches few kernels.
        self._n_norms = len(order)
        self._raw_width = self._n_norms + 4 * n_blocks
        self._buf: torch.Tensor | None = None
        self._filled = 0
        self._host: list[np.ndarray] = []
        self._drained = 0
        self._drained_chunks = 0
        self._step_ids: list[int] = []
        self._count = 0
        # False: a drain hands its rows over for good (a worker whose rows go to the server and the store);
        # the probe then holds at most a chunk, not 2 KB a step for as long as the run lasts.
        self.keep_drained = True
        self._released = 0  # rows handed over and no longer held

    def __enter__(self) -> Probe:
        self._taps.clear()
        self.model.taps = self._taps
        return self

    def __exit__(self, *exc: object) -> None:
        self._taps.clear()  # the tensors of a pass never recorded, and their hooks' hold on the list
        self.model.taps = None

    def _place(self, device: torch.device) -> None:
        """Device copies of the row buffer, the index tensors and the zeros that stand in for missing grads."""
        self._buf = torch.empty(self.chunk, self._raw_width, device=device)
        self._bin = self._host_index["bin"].to(device)
        self._layer_idx = self._host_index["layer"].to(device)
        self._zero = torch.zeros((), device=device)
        self._group_zeros = [torch.zeros_like(self._params[ks[0]], device=device) for ks in self._groups[:-1]]

    @torch.no_grad()
    def step(self, step: int | None = None) -> None:
        """Record this step's statistics; call after backward and before the optimiser step."""
        taps = self.model.taps
        if not taps:
            raise RuntimeError("Probe.step() needs a forward and backward pass inside `with Probe(...)`")
        if taps is not self._taps:
            raise RuntimeError("Probe.step() reads the probe's own tap list, and model.taps was replaced: "
                               "clear it between steps instead")
        n_blocks = len(self.names)
        if len(taps) != n_blocks + 1:
            raise RuntimeError(f"Probe.step() takes one forward pass a step: the taps hold {len(taps)} tensors "
                               f"for {n_blocks} blocks")
        device = taps[0].device
        if self._buf is None or self._buf.device != device:
            self._flush()
            self._place(device)
        row = self._buf[self._filled]
        row[self._n_norms :].copy_(taps.finish().view(-1))
        self._grad_norms(row[: self._n_norms])
        self._filled += 1
        self._step_ids.append(self._count if step is None else step)
        self._count += 1
        taps.clear()
        if self._filled == self.chunk:
            self._flush()

    def _grad_norms(self, out: torch.Tensor) -> None:
        """Write the L2 norm of every parameter gradient (zero where there is none) into `out`, in group order."""
        grads = [p.grad for p in self._params]
        at = 0
        for ks, zero in zip(self._groups[:-1], self._group_zeros, strict=True):
            stacked = torch.stack([zero if grads[k] is None else grads[k] for k in ks])  # (n, *shape)
            torch.linalg.vector_norm(stacked, dim=tuple(range(1, stacked.dim())), dtype=torch.float32,
                                     out=out[at : at + len(ks)])
            at += len(ks)
        if self._groups[-1]:
            alone = [self._zero if grads[k] is None else grads[k] for k in self._groups[-1]]
            torch.stack(torch._foreach_norm(alone, dtype=torch.float32), out=out[at:])

    def _rows(self, raw: torch.Tensor) -> torch.Tensor:
        """Recorded rows (S, width) from rows as steps wrote them (S, raw width): the chunk's arithmetic at once."""
        b = len(self.names)
        norms, taps = raw[:, : self._n_norms], raw[:, self._n_norms :]
        per_block = raw.new_zeros(len(raw), b + 1).index_add_(1, self._bin, norms.square())[:, :b].sqrt_()
        input_norms, total, norm, count = taps.view(len(raw), 4, b).unbind(1)  # (S, B) each
        mean = total / count
        std = (norm.square() / count - mean.square()).clamp_min_(0).sqrt_()
        return torch.cat([per_block, input_norms, mean, std, norms[:, self._layer_idx]], dim=1)

    def _flush(self) -> None:
        if self._buf is not None and self._filled:
            rows = self._rows(self._buf[: self._filled])
            self._host.append(rows.cpu().numpy())  # one sync per chunk; `rows` is a fresh tensor, no buffer view
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

