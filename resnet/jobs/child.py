"""The worker-process side of a job: it trains or computes, takes commands, sends rows back.

The forkserver preloads this module, so torch and the engine are imported once, not per job.
Importing it starts no torch thread pool and touches no CUDA: the pools start in each worker,
after `torch.set_num_threads`. A worker ends when told to, when its work is done, or when its
pipe closes (the server is gone, even killed): every receive and send then fails, and it exits.

Messages to the server are tuples whose first item names them: ("state", epoch, state, message,
handled), ("rows", epoch, role, payload), ("runs", {role: run id}), ("progress", dict),
("result", value), ("failed", reason).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import time
import traceback
from multiprocessing.connection import Connection

import numpy as np
import torch

from resnet.probes import STATS, ProbeHistory
from resnet.recording import record
from resnet.responses import save_responses
from resnet.store import RunRecorder, RunStore, StoreError
from resnet.store.store import new_key
from resnet.trainer import TrainConfig, Trainer, twin_trainer, twin_trainers

PULL_EVERY_S = 0.2  # rows reach the page this often while training
RECORD_EVERY_S = 2.0  # commits to the run store this often while training
PROGRESS_EVERY_S = 0.25


class ServerGone(Exception):
    """The pipe to the server closed: the server stopped or died."""


class Stopped(Exception):
    """The server asked a call to stop (its Cancel button)."""


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _send(conn: Connection, message: tuple) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError) as err:
        raise ServerGone from err


def _receive(conn: Connection, timeout: float) -> tuple | None:
    """The next command, or None after `timeout` seconds without one."""
    try:
        return conn.recv() if conn.poll(timeout) else None
    except (EOFError, OSError) as err:
        raise ServerGone from err


def main(kind: str, spec: dict, conn: Connection) -> None:
    """Entry point of every worker process."""
    torch.set_num_threads(spec.get("threads", 1))
    try:
        RUNNERS[kind](spec, conn)
    except ServerGone:
        pass
    except Stopped:
        with contextlib.suppress(ServerGone):
            _send(conn, ("stopped",))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the server reports it
        pass
    except Exception as err:  # the job's page shows the line; the server's log gets the traceback
        traceback.print_exc(file=sys.stderr)
        with contextlib.suppress(ServerGone):
            _send(conn, ("failed", one_line(err)))
    finally:
        conn.close()


def takes_progress(fn) -> bool:
    """Whether `fn` declares a `progress` parameter (built-ins without a signature do not)."""
    try:
        return "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


# -- a function call --------------------------------------------------------------------------
def run_call(spec: dict, conn: Connection) -> None:
    """Call `module:function(**kwargs)` and send its return value back."""
    module, _, name = spec["target"].partition(":")
    fn = getattr(importlib.import_module(module), name)
    kwargs = dict(spec.get("kwargs", {}))
    last = [0.0]

    def progress(fraction: float, text: str = "") -> None:
        # A long call reports progress often: that is where it hears a stop.
        command = _receive(conn, 0)
        if command is not None and command[0] == "stop":
            raise Stopped
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1:
            last[0] = now
            _send(conn, ("progress", {"fraction": float(fraction), "text": str(text)}))

    if takes_progress(fn):
        kwargs["progress"] = progress
    _send(conn, ("result", fn(**kwargs)))


# -- one run, recorded ------------------------------------------------------------------------
def run_one(spec: dict, conn: Connection) -> None:
    """Train one net to its end (or until stopped), recording it in the store as it goes."""
    config = TrainConfig.from_dict(spec["config"])
    store = RunStore(spec["store"])
    trainer = twin_trainer(config, total_steps=spec["steps"])
    trainer.probe.keep_drained = False  # the store has every row: the worker keeps none past its commit
    last = [0.0]
    stop = [False]

    def should_stop() -> bool:
        command = _receive(conn, 0)
        stop[0] = stop[0] or (command is not None and command[0] == "stop")
        return stop[0]

    def report(t: Trainer) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or t.done:
            last[0] = now
            _send(conn, ("progress", {"step": t.step_count, "total": t.total_steps, "seconds": t.seconds,
                                      "status": t.status}))

    save = (lambda run_id, t: save_responses(store, run_id, t)) if spec.get("responses") else None
    try:
        run_id = record(store, trainer, name=spec.get("name"), sweep=spec.get("sweep"), should_stop=should_stop,
                        on_step=report, before_close=save, flush_seconds=1.0)
        info = store.run(run_id)
        _send(conn, ("result", {"run_id": run_id, "status": info.status, "steps": info.steps}))
    finally:
        trainer.close()


# -- live twins -------------------------------------------------------------------------------
class Twins:
    """A plain net and its residual twin, driven by commands; rows go to the server as they come."""

    def __init__(self, spec: dict, conn: Connection) -> None:
        self.config = TrainConfig.from_dict(spec["config"])
        self.steps = spec["steps"]
        self.store_path = spec.get("store")
        self.conn = conn
        self.epoch = 0  # bumped by reset: the server drops rows of an older epoch
        self.handled = 0  # commands carried out, so the server knows none is pending
        self.budget = 0  # steps still to take; -1: until paused
        self.recorders: dict[str, RunRecorder] = {}
        self.unrecorded: dict[str, list[ProbeHistory]] = {}  # rows sent to the server, not yet committed
        self.sent: dict[str, tuple[int, int, int]] = {}  # per role: losses, test scores, events sent so far
        self.record_error = ""
        self.recorded_at = self.pulled_at = 0.0
        self.trainers: dict[str, Trainer] = {}
        self.window = (time.monotonic(), 0)
        self.running = True
        # Scripted switches, (step, switches) in step order: each is carried out just before the residual
        # twin takes that step, whatever the server is doing; a reset plays the script again.
        self.script: list[tuple[int, list]] = []
        self.scripted = 0  # entries of the script carried out since the twins were built

    # The commands, one small method each.
    def do_train(self) -> None:
        self._begin(-1)

    def do_step(self, n: int) -> None:
        self._begin(int(n))

    def do_pause(self, why: str = "paused") -> None:
        self.budget = 0
        self._pull(record=True)
        self._state("paused", why)

    def do_reset(self) -> None:
        self.budget = 0
        self._build()
        self._state("idle")

    def do_shortcuts(self, changes: list[tuple[int | None, bool]]) -> None:
        for block, on in changes:  # between two steps: every switch of one command takes effect together
            self.trainers["residual"].set_shortcut(block, bool(on))
        self._pull()

    def do_schedule(self, at: int, changes: list[tuple[int | None, bool]]) -> None:
        self.script = sorted([*self.script, (int(at), list(changes))], key=lambda entry: entry[0])
        self._run_script()

    def do_stop(self) -> None:
        self.running = False

    def _run_script(self) -> None:
        residual = self.trainers["residual"]
        while self.scripted < len(self.script) and self.script[self.scripted][0] <= residual.step_count:
            for block, on in self.script[self.scripted][1]:
                residual.set_shortcut(block, bool(on))
            self.scripted += 1

    def _begin(self, budget: int) -> None:
        if self._done():
            self._state(*self._end_state())
            return
        self.budget = budget
        self._start_recording()
        self.window = (time.monotonic(), 0)
        self._state("training")

    def serve(self) -> None:
        """Build the twins, then take commands and train until stopped."""
        self._build()
        self._state("idle")
        while self.running:
            command = _receive(self.conn, 0 if self.budget else 0.1)
            if command is not None:
                self.handled += 1  # counted first, so the state the command sends says it is done
                getattr(self, f"do_{command[0]}")(*command[1:])
                if command[0] not in ("train", "step", "pause", "reset"):
                    self._state(self.state, self.message)  # carry the new count of handled commands
                continue
            if self.budget:
                self._train_one()

    def _train_one(self) -> None:
        self._run_script()
        for t in self.trainers.values():
            t.step()
        self.budget -= self.budget > 0
        start, steps = self.window
        self.window = (start, steps + 1)
        if self._done():
            self.budget = 0
        if time.monotonic() - self.pulled_at >= PULL_EVERY_S or not self.budget:
            self._pull(record=True, final=self._done())
            if not self.budget:
                self._state(*(self._end_state() if self._done() else ("paused", "")))

    def _build(self) -> None:
        self._close_runs()
        for t in self.trainers.values():
            t.close()
        plain, residual = twin_trainers(self.config, total_steps=self.steps)
        for t in (plain, residual):
            t.probe.keep_drained = False  # rows go to the server (and the store) as they come: none stay here
        self.trainers = {"plain": plain, "residual": residual}
        self.scripted = 0
        self.sent = {role: (0, 0, 0) for role in self.trainers}
        self.epoch += 1

    def _rate(self) -> float:
        """Twin steps per second since training last began."""
        start, steps = self.window
        return steps / max(time.monotonic() - start, 1e-9) if steps else 0.0

    def _state(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        _send(self.conn, ("state", self.epoch, state, message, self.handled, self._rate(), self.record_error))

    def _pull(self, *, record: bool = False, final: bool = False) -> None:
        """Send every twin's new rows; commit them to the store when a commit is due (or `final`)."""
        self.pulled_at = now = time.monotonic()
        due = final or (record and now - self.recorded_at >= RECORD_EVERY_S) or (record and not self.budget)
        for role, t in self.trainers.items():
            h = t.probe.drain()
            self.sent[role], payload = net_payload(t, h, self.sent[role])
            payload["rate"] = self._rate()
            _send(self.conn, ("rows", self.epoch, role, payload))
            if role in self.recorders:
                self.unrecorded[role].append(h)
        if due:
            self._commit(final=final)

    def _start_recording(self) -> None:
        if self.store_path is None or self.recorders or self.record_error:
            return
        try:
            store = RunStore(self.store_path)
            pair = new_key()
            for role, t in self.trainers.items():
                self.recorders[role] = RunRecorder(store, t, pair=pair)
                self.unrecorded[role] = []
            _send(self.conn, ("runs", {role: r.run_id for role, r in self.recorders.items()}))
        except StoreError as err:
            self._drop_recording(err)
        self.recorded_at = time.monotonic()

    def _commit(self, *, final: bool = False, status: str | None = None) -> None:
        self.recorded_at = time.monotonic()
        try:
            for role, recorder in list(self.recorders.items()):
                parts, self.unrecorded[role] = self.unrecorded[role], []
                history = ProbeHistory.concat(parts) if parts else None
                t = self.trainers[role]
                if final:
                    recorder.finish(t, status, history=history)
                else:
                    recorder.flush(t, history)
            if final:
                self.recorders = {}
        except StoreError as err:
            self._drop_recording(err)

    def _close_runs(self, status: str | None = None) -> None:
        """Close the runs being recorded (a reset, a stop or the end of the worker)."""
        if not self.recorders:
            return
        for role, t in self.trainers.items():
            if role in self.recorders:
                self.unrecorded[role].append(t.probe.drain())
        self._commit(final=True, status=status)

    def _drop_recording(self, err: StoreError) -> None:
        self.recorders = {}
        self.record_error = f"training goes on without being recorded in the run store: {err}"

    def _done(self) -> bool:
        return any(t.done for t in self.trainers.values())

    def _end_state(self) -> tuple[str, str]:
        for role, t in self.trainers.items():
            if t.status in ("diverged", "failed"):
                return t.status, f"the {role} net {t.message}; what was recorded stays. Press Reset to start again."
        return "finished", f"finished {self.steps} steps"

    def close(self, failed: bool) -> None:
        """Close the runs and remove the probes."""
        self._close_runs("failed" if failed else None)
        for t in self.trainers.values():
            t.close()


def net_payload(t: Trainer, h: ProbeHistory, sent: tuple[int, int, int]) -> tuple[tuple[int, int, int], dict]:
    """What the server's live buffer appends for one net: the new probe rows and the curves' new tails.

    `sent` counts the losses, test scores and events already sent; returns the new counts too.
    """
    n_loss, n_tests, n_events = sent
    payload = {
        "names": list(h.names), "layer_names": list(h.layer_names), "steps": h.steps + 1,
        "rows": np.concatenate([*(getattr(h, s) for s in STATS), h.layer_grad_norm], axis=1),
        "loss": t.loss[n_loss:], "train_error": t.train_error[n_loss:], "test_steps": t.test_steps[n_tests:],
        "test_error": t.test_error[n_tests:], "events": t.events[n_events:], "shortcuts": t.model.shortcuts(),
        "status": t.status, "message": t.message, "label": t.config.model.label,
        "residual": t.config.model.residual,
    }
    return (len(t.loss), len(t.test_steps), len(t.events)), payload


def run_twins(spec: dict, conn: Connection) -> None:
    """Serve live twins until stopped; the runs are closed whatever ends the worker."""
    twins = Twins(spec, conn)
    failed = False
    try:
        twins.serve()
    except torch.OutOfMemoryError:
        failed = True
        _send(conn, ("failed", "out of memory on the device: lower the batch size, width or depth, then Reset"))
    except BaseException:
        failed = True
        raise
    finally:
        twins.close(failed)


RUNNERS = {"call": run_call, "run": run_one, "twins": run_twins}
