"""A background worker that trains a plain net and its residual twin for one browser session.

The worker never touches the UI: commands (train, pause, step, reset, toggle shortcut) go in
through a queue, and records come out through a lock-guarded buffer that `snapshot()` reads.
A session stamps `heartbeat()` on every redraw; when the stamps stop, the worker pauses, then
ends. A process-wide cap bounds how many workers train at once. Given a run store, each twin is
recorded there as a run from its first step, so a page's training outlives the page.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from resnet.checks import int_in
from resnet.probes import ProbeHistory
from resnet.store import RunRecorder, RunStore, StoreError
from resnet.trainer import MAX_STEPS, TrainConfig, Trainer, twin_trainers

RECORD_EVERY = 2.0  # seconds between commits to the run store while training


def max_workers() -> int:
    """How many workers may train at once in this process ($GFL_MAX_WORKERS, default 4)."""
    return max(1, int(os.environ.get("GFL_MAX_WORKERS", "4")))


def worker_threads() -> int:
    """Intra-op threads for training workers ($GFL_TORCH_THREADS, default 1)."""
    return max(1, int(os.environ.get("GFL_TORCH_THREADS", "1")))


class _Slots:
    """A process-wide count of training workers, so many sessions cannot swamp one machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: set[int] = set()

    def acquire(self, owner: int) -> bool:
        with self._lock:
            if owner in self._holders:
                return True
            if len(self._holders) >= max_workers():
                return False
            self._holders.add(owner)
            return True

    def release(self, owner: int) -> None:
        with self._lock:
            self._holders.discard(owner)

    def busy(self) -> int:
        with self._lock:
            return len(self._holders)


SLOTS = _Slots()


@dataclass
class NetSnapshot:
    """One twin's records, each series downsampled to at most `max_points` steps."""

    names: list[str]
    layer_names: list[str]
    steps: np.ndarray  # (S,) steps of the probe rows shown
    grad_norm: np.ndarray  # (S, B)
    input_grad_norm: np.ndarray  # (S, B)
    act_mean: np.ndarray  # (S, B)
    act_std: np.ndarray  # (S, B)
    layer_grad_norm: np.ndarray  # (S, L)
    curve_steps: np.ndarray  # (S',) steps of the loss/error points shown
    loss: np.ndarray
    train_error: np.ndarray
    test_steps: np.ndarray
    test_error: np.ndarray
    events: list[tuple[int, int | None, bool]]
    shortcuts: list[bool]
    status: str
    message: str

    @property
    def latest(self) -> int | None:
        """Row index of the latest probe record, or None before the first step."""
        return len(self.steps) - 1 if len(self.steps) else None


@dataclass
class TwinSnapshot:
    """What the views draw: both twins plus the worker's own state."""

    state: str  # "starting", "idle", "training", "paused", "finished", "diverged", "failed", "stopped"
    message: str
    step: int
    total_steps: int
    steps_per_sec: float
    nets: dict[str, NetSnapshot] = field(default_factory=dict)
    run_ids: dict[str, int] = field(default_factory=dict)  # each twin's run in the store, once recording
    record_error: str = ""  # why recording stopped (training goes on)


class _Series:
    """Host-side records of one twin, appended by the worker thread under the worker's lock."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.chunks: list[np.ndarray] = []  # (n, 4B + L) probe rows, in step order
        self.steps: list[np.ndarray] = []
        self.rows = 0
        self.n_blocks = len(trainer.probe.names)
        self.recorder: RunRecorder | None = None
        self.unrecorded: list[ProbeHistory] = []  # drained rows not yet in the store

    def pull(self) -> None:
        h = self.trainer.probe.drain()
        if self.recorder is not None:
            self.unrecorded.append(h)
        if len(h):
            self.chunks.append(np.concatenate(
                [h.grad_norm, h.input_grad_norm, h.act_mean, h.act_std, h.layer_grad_norm], axis=1))
            self.steps.append(h.steps)
            self.rows += len(h)
            # Merge small chunks so snapshots stay cheap however long the run.
            if len(self.chunks) > 64:
                self.chunks = [np.concatenate(self.chunks)]
                self.steps = [np.concatenate(self.steps)]


def _sample(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into n items, at most max_points, always keeping the last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


class TwinWorker:
    """Trains a plain/residual pair in a daemon thread, driven by commands."""

    def __init__(self, config: TrainConfig, *, steps: int, store: RunStore | None = None, pause_after: float = 30.0,
                 stop_after: float = 600.0, pull_every: float = 0.2) -> None:
        int_in("steps", steps, 1, MAX_STEPS)
        self.config = config
        self.store = store
        self._run_ids: dict[str, int] = {}
        self._record_error = ""
        self._recorded_at = 0.0
        self.total_steps = steps
        self.pause_after = pause_after
        self.stop_after = stop_after
        self.pull_every = pull_every
        self._commands: queue.Queue = queue.Queue()
        self._unhandled = 0  # commands sent and not yet carried out
        self._lock = threading.Lock()
        self._beat = time.monotonic()
        self._state = "starting"
        self._message = ""
        self._series: dict[str, _Series] = {}
        self._rate = 0.0
        self._thread = threading.Thread(target=self._run, name="gfl-twin-worker", daemon=True)
        self._thread.start()

    # -- commands (any thread) -------------------------------------------------------------
    def _send(self, command: tuple) -> None:
        with self._lock:
            self._unhandled += 1
        self._commands.put(command)

    def train(self) -> None:
        """Train continuously until paused, finished or diverged."""
        self._send(("train",))

    def pause(self) -> None:
        """Stop after the current step; everything recorded stays."""
        self._send(("pause",))

    def step(self, n: int = 1) -> None:
        """Train exactly `n` more steps, then pause."""
        self._send(("step", int_in("steps", n, 1, MAX_STEPS)))

    def reset(self) -> None:
        """Discard the records and start again from the same initial weights."""
        self._send(("reset",))

    def set_shortcut(self, i: int | None, on: bool) -> None:
        """Switch the residual twin's shortcut `i` (None: all) from its next step on."""
        self._send(("shortcut", i, bool(on)))

    def stop(self) -> None:
        """End the worker thread."""
        self._send(("stop",))

    def heartbeat(self) -> None:
        """Say a viewer is still there; without it the worker pauses, then ends."""
        self._beat = time.monotonic()

    @property
    def pending(self) -> bool:
        """Whether a command is not yet fully carried out (the worker may be about to train).

        Counted until the worker has acted on it, not until it takes it off the queue: a viewer
        that saw an empty queue and a still-idle state would stop redrawing a run just starting.
        """
        with self._lock:
            return self._unhandled > 0

    @property
    def alive(self) -> bool:
        """Whether the worker thread still runs."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to end."""
        self._thread.join(timeout)

    # -- reading (any thread) --------------------------------------------------------------
    def snapshot(self, max_points: int = 1000) -> TwinSnapshot:
        """A consistent copy of the records, each series downsampled to `max_points` steps."""
        with self._lock:
            nets = {name: self._net_snapshot(s, max_points) for name, s in self._series.items()}
            step = max((s.trainer.step_count for s in self._series.values()), default=0)
            return TwinSnapshot(self._state, self._message, step, self.total_steps, self._rate, nets,
                                dict(self._run_ids), self._record_error)

    def _net_snapshot(self, s: _Series, max_points: int) -> NetSnapshot:
        t = s.trainer
        if len(s.chunks) > 1:
            s.chunks, s.steps = [np.concatenate(s.chunks)], [np.concatenate(s.steps)]
        b = s.n_blocks
        rows = s.chunks[0] if s.chunks else np.zeros((0, 4 * b + len(t.probe.layer_names)), np.float32)
        steps = s.steps[0] if s.steps else np.zeros(0, np.int64)
        pick = _sample(len(rows), max_points)
        rows, steps = rows[pick], steps[pick]
        n_curve = len(t.loss)
        curve = _sample(n_curve, max_points)
        return NetSnapshot(
            names=list(t.probe.names), layer_names=list(t.probe.layer_names), steps=steps,
            grad_norm=rows[:, :b], input_grad_norm=rows[:, b : 2 * b], act_mean=rows[:, 2 * b : 3 * b],
            act_std=rows[:, 3 * b : 4 * b], layer_grad_norm=rows[:, 4 * b :],
            curve_steps=curve, loss=np.asarray(t.loss[:n_curve], np.float32)[curve],
            train_error=np.asarray(t.train_error[:n_curve], np.float32)[curve],
            test_steps=np.asarray(t.test_steps, np.int64), test_error=np.asarray(t.test_error, np.float32),
            events=list(t.events), shortcuts=t.model.shortcuts(), status=t.status, message=t.message,
        )

    # -- the thread ------------------------------------------------------------------------
    def _build(self) -> None:
        self._record(final=True)  # a reset closes the previous runs
        plain, residual = twin_trainers(self.config, total_steps=self.total_steps)
        with self._lock:
            for s in self._series.values():
                s.trainer.close()
            self._series = {"plain": _Series(plain), "residual": _Series(residual)}
            self._rate = 0.0
            self._run_ids = {}

    def _start_recording(self) -> None:
        """Open a run in the store for each twin, at the first step this pair trains."""
        if self.store is None or self._run_ids or self._record_error:
            return
        try:
            for s in self._series.values():
                s.recorder = RunRecorder(self.store, s.trainer)
            with self._lock:
                self._run_ids = {name: s.recorder.run_id for name, s in self._series.items()}
        except StoreError as err:
            self._drop_recording(err)
        self._recorded_at = time.monotonic()

    def _record(self, *, final: bool = False, force: bool = False, status: str | None = None) -> None:
        """Commit the rows pulled since the last commit (every RECORD_EVERY s, or now).

        `final` closes the runs, with `status` or else each trainer's own ("stopped" mid-way).
        """
        if not (final or force) and time.monotonic() - self._recorded_at < RECORD_EVERY:
            return
        self._recorded_at = time.monotonic()
        try:
            for s in self._series.values():
                if s.recorder is None:
                    continue
                with self._lock:
                    s.pull()
                    history, s.unrecorded = ProbeHistory.concat(s.unrecorded), []
                # Written outside the lock: a commit must not hold up the page's snapshot.
                if final:
                    recorder, s.recorder = s.recorder, None
                    recorder.finish(s.trainer, status, history=history)
                else:
                    s.recorder.flush(s.trainer, history)
        except StoreError as err:
            self._drop_recording(err)

    def _drop_recording(self, err: StoreError) -> None:
        """Training goes on unrecorded; the session is told why."""
        for s in self._series.values():
            s.recorder, s.unrecorded = None, []
        with self._lock:
            self._record_error = f"training goes on without being recorded in the run store: {err}"

    def _set(self, state: str, message: str = "") -> None:
        with self._lock:
            self._state, self._message = state, message

    def _run(self) -> None:
        me = id(self)
        budget = 0  # steps still to take; -1 means "until paused"
        # Small nets step fastest on one intra-op thread, and several sessions' workers then share the
        # cores instead of spinning against each other (2 OpenMP threads under load ran 50x slower here).
        torch.set_num_threads(worker_threads())
        try:
            self._build()
            self._set("idle")
            last_pull = time.monotonic()
            window_start, window_steps = time.monotonic(), 0
            while True:
                try:
                    cmd = self._commands.get(timeout=0 if budget else 0.1)
                except queue.Empty:
                    cmd = None
                if cmd is not None:
                    kind = cmd[0]
                    if kind == "stop":
                        break
                    if kind == "pause":
                        budget = 0
                        SLOTS.release(me)
                        self._record(force=True)
                        self._set("paused", "paused")
                    elif kind in ("train", "step"):
                        if self._finished():
                            self._set(*self._end_state())
                        elif not SLOTS.acquire(me):
                            budget = 0
                            self._set("idle", f"{max_workers()} sessions are training right now, the most this "
                                              "server allows; please try again in a moment")
                        else:
                            budget = -1 if kind == "train" else cmd[1]
                            self._start_recording()
                            self._set("training")
                            window_start, window_steps = time.monotonic(), 0
                    elif kind == "reset":
                        budget = 0
                        SLOTS.release(me)
                        self._build()
                        self._set("idle")
                    elif kind == "shortcut":
                        with self._lock:
                            self._series["residual"].trainer.set_shortcut(cmd[1], cmd[2])
                    with self._lock:
                        self._unhandled -= 1
                    continue
                stale = time.monotonic() - self._beat
                if stale > self.stop_after:
                    break
                if budget and stale > self.pause_after:
                    budget = 0
                    SLOTS.release(me)
                    self._set("paused", "paused: nobody is watching this session")
                if budget:
                    for s in self._series.values():
                        s.trainer.step()
                    budget = budget - 1 if budget > 0 else budget
                    window_steps += 1
                    if self._finished():
                        budget = 0
                    now = time.monotonic()
                    if now - last_pull >= self.pull_every or not budget:
                        self._pull()
                        last_pull = now
                        with self._lock:
                            self._rate = window_steps / max(now - window_start, 1e-9)
                        self._record(final=self._finished(), force=not budget)
                    if not budget:
                        SLOTS.release(me)
                        self._set(*(self._end_state() if self._finished() else ("paused", "")))
        except torch.OutOfMemoryError:
            self._set("failed", "out of memory on the device: lower the batch size, width or depth, then Reset")
        except Exception as err:  # the session must see what broke, not a silent dead thread
            self._set("failed", f"training stopped: {type(err).__name__}: {err}")
        finally:
            SLOTS.release(me)
            self._pull()
            self._record(final=True, status="failed" if self._state == "failed" else None)
            with self._lock:
                if self._state in ("training", "paused", "idle", "starting"):
                    self._state = "stopped"
                for s in self._series.values():
                    s.trainer.close()

    def _pull(self) -> None:
        with self._lock:
            for s in self._series.values():
                s.pull()

    def _finished(self) -> bool:
        return any(s.trainer.done for s in self._series.values())

    def _end_state(self) -> tuple[str, str]:
        failed = [s.trainer for s in self._series.values() if s.trainer.status in ("diverged", "failed")]
        if failed:
            t = failed[0]
            name = "plain" if not t.config.model.residual else "residual"
            return t.status, f"the {name} net {t.message}; what was recorded stays. Press Reset to start again."
        return "finished", f"finished {self.total_steps} steps"
