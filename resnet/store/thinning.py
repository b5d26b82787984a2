"""Thinning: a long run's probe rows kept whole for its first steps, then as windows of mean, min and max.

A row per block and per layer every step costs about 4 KB a step for a ResNet-110 (54 blocks, 110
layers): 330 MB for the paper's 64k iterations. Readers draw at most MAX_POINTS points a series,
so after the first THIN_AFTER steps (where the interesting dynamics happen, kept exact) a window
is as wide as one of those points over the whole run, and keeps its mean, minimum and maximum.
Per-step loss and error are never thinned (they are small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from resnet.probes import STATS, ProbeHistory

THIN_AFTER = 1000  # steps recorded exactly at the start of every run
WINDOWS = 1000  # about this many windows over a whole run (the readers' MAX_POINTS)


def window_for(total_steps: int) -> int:
    """Steps a window spans for a run of `total_steps` (1: never thinned)."""
    return max(1, math.ceil(total_steps / WINDOWS))


@dataclass(frozen=True)
class ProbeRows:
    """Probe rows as the store keeps them: each covers `span` steps from its `step` on (1-based)."""

    steps: np.ndarray  # (R,) int64, first step of each row
    spans: np.ndarray  # (R,) int64, steps each row covers (1: an exact row)
    block_mean: np.ndarray  # (R, B, 4) the STATS, in order; one step's values for an exact row
    block_min: np.ndarray  # (R, B, 4)
    block_max: np.ndarray  # (R, B, 4)
    layer_mean: np.ndarray  # (R, L)
    layer_min: np.ndarray  # (R, L)
    layer_max: np.ndarray  # (R, L)

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def exact(cls, history: ProbeHistory) -> ProbeRows:
        """One exact row per recorded step (the probe counts steps from 0, the store from 1)."""
        blocks = np.stack([getattr(history, s) for s in STATS], axis=2)  # (S, B, 4)
        layers = history.layer_grad_norm
        return cls(np.asarray(history.steps, np.int64) + 1, np.ones(len(history), np.int64),
                   blocks, blocks, blocks, layers, layers, layers)


class Thinner:
    """Turns a run's probe rows, batch by batch, into the rows to store: exact first, then windows.

    A window still filling is returned with what it has so far, and again, grown, with the next
    batch: the store replaces it, so every flush leaves a consistent record of every step taken.
    """

    def __init__(self, window: int, after: int = THIN_AFTER) -> None:
        self.window = window
        self.after = after
        self._open: tuple[int, int, np.ndarray, np.ndarray, np.ndarray] | None = None  # start, n, sum, min, max

    def add(self, history: ProbeHistory) -> ProbeRows:
        """The rows to (re)write for the steps of `history`, which follow those of the previous call."""
        rows = ProbeRows.exact(history)
        n_exact = int((rows.steps <= self.after).sum())  # steps arrive in order: the exact ones first
        if self.window == 1 or n_exact == len(rows):
            return rows
        b, n_layers = rows.block_mean.shape[1], rows.layer_mean.shape[1]
        flat = np.concatenate([rows.block_mean.reshape(len(rows), -1), rows.layer_mean], axis=1)  # (S, 4B + L)
        flat = flat[n_exact:].astype(np.float64)
        starts = self.after + 1 + (rows.steps[n_exact:] - self.after - 1) // self.window * self.window
        edges = [*np.flatnonzero(starts[1:] != starts[:-1]) + 1, len(starts)]
        windows = []  # (start, n, sum, min, max) of each window this batch touches
        for i, end in zip([0, *edges[:-1]], edges, strict=True):
            part = flat[i:end]
            windows.append((int(starts[i]), len(part), part.sum(0), part.min(0), part.max(0)))
        if self._open is not None and self._open[0] == windows[0][0]:  # the window left open last time
            _, n0, sum0, lo0, hi0 = self._open
            start, n, total, lo, hi = windows[0]
            windows[0] = (start, n0 + n, sum0 + total, np.minimum(lo0, lo), np.maximum(hi0, hi))
        self._open = windows[-1]
        mean = np.stack([w[2] / w[1] for w in windows])
        lo, hi = np.stack([w[3] for w in windows]), np.stack([w[4] for w in windows])

        def join(exact: np.ndarray, windowed: np.ndarray, blocks: bool) -> np.ndarray:
            k = b * len(STATS)
            part = windowed[:, :k].reshape(-1, b, len(STATS)) if blocks else windowed[:, k:].reshape(-1, n_layers)
            return np.concatenate([exact[:n_exact], part])

        return ProbeRows(
            steps=np.r_[rows.steps[:n_exact], [w[0] for w in windows]].astype(np.int64),
            spans=np.r_[rows.spans[:n_exact], [w[1] for w in windows]].astype(np.int64),
            block_mean=join(rows.block_mean, mean, True), block_min=join(rows.block_min, lo, True),
            block_max=join(rows.block_max, hi, True), layer_mean=join(rows.layer_mean, mean, False),
            layer_min=join(rows.layer_min, lo, False), layer_max=join(rows.layer_max, hi, False))
