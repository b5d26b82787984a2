"""Rows of a run trained elsewhere (a Ray trial), shipped to the driver, which is the store's only writer.

A `RowSink` stands in for the run store inside the trial: the recorder calls the store's writer
methods on it, batch by batch, and each call travels as one message. On the driver a `RowReplay`
makes the same calls on the real store, so a remote run's rows are the rows a local run writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from resnet.store import RunStore

# The writer methods of RunStore a recorder uses; nothing else may be replayed.
WRITES = ("create_run", "append", "save_weights", "save_responses", "finish")
SINK_RUN_ID = 1  # the trial's stand-in for the run id the driver's store hands out


@dataclass(frozen=True)
class Message:
    """One store call of a trial, with where the trial is."""

    point: int  # the grid point (its index in the sweep)
    kind: str  # one of WRITES
    args: tuple
    kwargs: dict
    seconds: float  # training time so far
    host: str
    pid: int


class RowSink:
    """A run store stand-in that sends each writer call to `send`; `send` answers whether to stop."""

    def __init__(self, send: Callable[[str, tuple, dict], bool]) -> None:
        self._send = send
        self.stop_requested = False

    def _call(self, kind: str, *args, **kwargs) -> None:
        self.stop_requested = bool(self._send(kind, args, kwargs)) or self.stop_requested

    def create_run(self, config, **kwargs) -> int:
        """Ship the new run's description; the trial calls its run SINK_RUN_ID."""
        self._call("create_run", config, **kwargs)
        return SINK_RUN_ID

    def append(self, run_id: int, **kwargs) -> None:
        """Ship one batch of rows."""
        kwargs = {k: list(v) if k in ("loss", "train_error", "tests", "events") else v for k, v in kwargs.items()}
        self._call("append", **kwargs)

    def save_weights(self, run_id: int, state_dict: dict, *, step: int) -> None:
        """Ship the final weights (as CPU tensors)."""
        self._call("save_weights", {k: v.detach().cpu() for k, v in state_dict.items()}, step=step)

    def save_responses(self, run_id: int, names: list[str], stds) -> None:
        """Ship the Fig. 7 responses."""
        self._call("save_responses", list(names), [float(s) for s in stds])

    def finish(self, run_id: int, status: str, **kwargs) -> None:
        """Ship the final status."""
        self._call("finish", status, **kwargs)


class RowReplay:
    """Applies trials' messages to the store, in order; knows which runs are still open."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.run_ids: dict[int, int] = {}  # grid point -> run id in the store
        self.open: dict[int, float] = {}  # grid point -> training seconds so far, for runs not yet finished

    def apply(self, message: Message) -> None:
        """Make the trial's store call on the store."""
        if message.kind not in WRITES:
            raise ValueError(f"unknown store call {message.kind!r} from a trial; expected one of: {', '.join(WRITES)}")
        if message.kind == "create_run":
            self.run_ids[message.point] = self.store.create_run(*message.args, **message.kwargs)
        else:
            getattr(self.store, message.kind)(self.run_ids[message.point], *message.args, **message.kwargs)
        if message.kind == "finish":
            self.open.pop(message.point, None)
        else:
            self.open[message.point] = message.seconds

    def close_open(self, status: str, message: str, points: set[int] | None = None) -> None:
        """Close the runs (of `points`, default all) whose trial ended without closing them."""
        for point, seconds in list(self.open.items()):
            if points is None or point in points:
                self.store.finish(self.run_ids[point], status, seconds=seconds if math.isfinite(seconds) else 0.0,
                                  message=message)
                del self.open[point]
