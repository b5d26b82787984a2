"""The server's live buffer of one net: rows a worker sends, kept on the host, read as a NetView."""

from __future__ import annotations

import numpy as np

from viz.runview import BLOCK_STATS, NetView, sample

MERGE_AFTER = 64  # chunks kept apart before they are joined, so a view stays cheap however long the run
LIVE_ROWS = 2048  # a live net keeps 2-4k evenly spaced probe rows (and its latest): views draw 300-600 of them


class NetBuffer:
    """What one net of a live job has recorded, appended from the worker's row batches.

    Curves are kept whole (a float a step). Probe rows are kept whole for the first 2 * LIVE_ROWS
    steps, then every `stride`-th step, the stride doubling as the run grows, plus the latest row:
    a server with a room of sessions holds a few MB a session however long they train, and the
    store keeps every row (thinned into windows) for the Runs page.
    """

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []  # (n, 4B + L) probe rows, in step order
        self.step_chunks: list[np.ndarray] = []
        self.stride = 1  # probe rows kept: those of steps divisible by this
        self.rows_kept = 0
        self.latest: tuple[np.ndarray, np.ndarray] | None = None  # the newest row and its step, always shown
        self.loss: list[float] = []
        self.train_error: list[float] = []
        self.test_steps: list[int] = []
        self.test_error: list[float] = []
        self.events: list[tuple[int, int | None, bool]] = []
        self.last: dict = {}  # the latest batch's names, shortcuts, status, ...

    def append(self, payload: dict) -> None:
        """Add one batch of rows and curve tails (see resnet.jobs.child.net_payload)."""
        rows, steps = payload["rows"], np.asarray(payload["steps"])
        if len(steps):
            self.latest = (rows[-1:], steps[-1:])
            if self.stride > 1:
                keep = steps % self.stride == 0
                rows, steps = rows[keep], steps[keep]
            self.chunks.append(rows)
            self.step_chunks.append(steps)
            self.rows_kept += len(steps)
            if self.rows_kept > 2 * LIVE_ROWS:
                self._thin()
            elif len(self.chunks) > MERGE_AFTER:
                self._merge()
        self.loss += payload["loss"]
        self.train_error += payload["train_error"]
        self.test_steps += payload["test_steps"]
        self.test_error += payload["test_error"]
        self.events += [tuple(e) for e in payload["events"]]
        self.last = payload

    def _thin(self) -> None:
        """Double the stride and drop the rows it no longer keeps."""
        self._merge()
        self.stride *= 2
        keep = self.step_chunks[0] % self.stride == 0
        self.chunks, self.step_chunks = [self.chunks[0][keep]], [self.step_chunks[0][keep]]
        self.rows_kept = len(self.step_chunks[0])

    def _merge(self) -> None:
        if len(self.chunks) > 1:
            self.chunks, self.step_chunks = [np.concatenate(self.chunks)], [np.concatenate(self.step_chunks)]

    @property
    def step(self) -> int:
        """Iterations done."""
        return len(self.loss)

    def view(self, max_points: int, run_id: int | None = None) -> NetView:
        """The record as a NetView, each series downsampled to at most `max_points` points."""
        self._merge()
        names, layers = list(self.last.get("names", [])), list(self.last.get("layer_names", []))
        b, width = len(names), len(BLOCK_STATS) * len(names) + len(layers)
        rows = self.chunks[0] if self.chunks else np.zeros((0, width), np.float32)
        steps = self.step_chunks[0] if self.step_chunks else np.zeros(0, np.int64)
        if self.latest is not None and (not len(steps) or steps[-1] < self.latest[1][0]):
            rows, steps = np.concatenate([rows, self.latest[0]]), np.concatenate([steps, self.latest[1]])
        pick = sample(len(rows), max_points)
        rows, steps = rows[pick], steps[pick]
        curve = sample(len(self.loss), max_points)
        stats = {s: rows[:, k * b:(k + 1) * b] for k, s in enumerate(BLOCK_STATS)}
        return NetView(
            label=self.last.get("label", ""), residual=bool(self.last.get("residual", False)), names=names,
            layer_names=layers, steps=steps, **stats, layer_grad_norm=rows[:, len(BLOCK_STATS) * b:],
            curve_steps=curve + 1, loss=np.asarray(self.loss, np.float32)[curve],
            train_error=np.asarray(self.train_error, np.float32)[curve],
            test_steps=np.asarray(self.test_steps, np.int64), test_error=np.asarray(self.test_error, np.float32),
            events=list(self.events), shortcuts=list(self.last.get("shortcuts", [])),
            status=self.last.get("status", ""), message=self.last.get("message", ""), run_id=run_id)
