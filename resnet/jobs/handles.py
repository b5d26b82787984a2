"""Job handles: what the server (and its pages) hold of a job whose work runs in a worker process.

Every kind shares one interface (`state`, `message`, `place`, `heartbeat`, `stop`, `join`,
`alive`, `pid`); the reader thread of the JobServer feeds each handle its worker's messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from resnet.jobs.live import NetBuffer
from resnet.trainer import MAX_STEPS, TrainConfig
from viz.runview import ROLES, RunView, empty_net

if TYPE_CHECKING:
    from resnet.jobs.server import JobServer

ENDED = ("done", "failed", "stopped", "cancelled")


class Job:
    """A unit of work in a worker process, queued until a slot is free."""

    kind = ""
    needs_viewer = False  # True: a queued job leaves the line once nobody watches it

    def __init__(self, server: JobServer, spec: dict) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.server = server
        self.spec = spec
        self._state = "queued"
        self.message = ""
        self.place: int | None = None
        self.process = None
        self.conn = None
        self.beat = time.monotonic()
        self.ended = threading.Event()
        self.failure = ""  # a reason the worker sent before it ended

    @property
    def state(self) -> str:
        """"queued", "starting", "running", "paused", "done", "failed", "stopped" or "cancelled"."""
        return self._state

    @property
    def pid(self) -> int | None:
        """The worker process's id, once started."""
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        """Whether the job has not ended (it waits in line or its worker runs)."""
        return not self.ended.is_set()

    def heartbeat(self) -> None:
        """Say a viewer is still there."""
        self.beat = time.monotonic()

    def stop(self) -> None:
        """End the job: a queued job leaves the line, a running one is told to stop."""
        self.server.stop(self)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True if it has."""
        return self.ended.wait(timeout)

    # -- called by the server's reader thread ------------------------------------------------
    def granted(self) -> None:
        """A slot is free for this job: start its worker."""
        self._state = "starting"
        self.server.spawn(self)

    def receive(self, message: tuple) -> None:
        """One message from the worker."""
        kind = message[0]
        if kind == "failed":
            self.failure = message[1]
        elif kind == "progress":
            self.on_progress(message[1])
        elif kind == "result":
            self.on_result(message[1])
        elif kind == "stopped":
            self._state, self.message = "stopped", "stopped before it finished"

    def on_progress(self, progress: dict) -> None:
        """Work in progress (a run's step, an analysis's fraction)."""
        self._state = "running"

    def on_result(self, value: object) -> None:
        """The work's return value."""

    def finished(self, reason: str) -> None:
        """The worker has exited; `reason` says how when it did not end by itself."""
        if self.failure or reason:
            self._state, self.message = "failed", self.failure or reason
        elif self._state not in ENDED:
            self._state = "done"


class CallJob(Job):
    """A function called in a worker: analyses, probing a model."""

    kind = "call"

    def __init__(self, server: JobServer, target: str, kwargs: dict, *, needs_viewer: bool = False) -> None:
        if ":" not in target:
            raise ValueError(f"job target {target!r} must read 'module:function'")
        super().__init__(server, {"target": target, "kwargs": kwargs})
        self.needs_viewer = needs_viewer
        self.result = None
        self.fraction, self.text = 0.0, ""

    def on_progress(self, progress: dict) -> None:
        super().on_progress(progress)
        self.fraction, self.text = progress["fraction"], progress["text"]

    def on_result(self, value: object) -> None:
        self.result, self._state, self.fraction = value, "done", 1.0


class RunJob(Job):
    """One net trained to its end and recorded in the run store by its worker (a sweep's run)."""

    kind = "run"

    def __init__(self, server: JobServer, config: TrainConfig, steps: int, *, store: str, name: str | None,
                 sweep: str | None, responses: bool, full: bool) -> None:
        if not isinstance(config, TrainConfig):
            raise ValueError("a run job needs a TrainConfig")
        if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
        super().__init__(server, {"config": config.to_dict(), "steps": steps, "store": str(store), "name": name,
                                  "sweep": sweep, "responses": bool(responses), "full": bool(full)})
        self.config = config
        self.progress = {"step": 0, "total": steps, "seconds": 0.0, "status": "queued"}
        self.result: dict | None = None

    @property
    def label(self) -> str:
        """The run's net, "plain-56" or "res-20"."""
        return self.config.model.label

    @property
    def rate(self) -> float:
        """Steps per second of training so far."""
        s = self.progress["seconds"]
        return self.progress["step"] / s if s > 0 else 0.0

    def on_progress(self, progress: dict) -> None:
        super().on_progress(progress)
        self.progress = progress

    def on_result(self, value: object) -> None:
        self.result = value
        self._state = {"finished": "done"}.get(value["status"], value["status"])
        if self._state not in ENDED:  # diverged, interrupted: it ended, the store has its status
            self._state, self.message = "done", f"ended {value['status']}"


class TwinsJob(Job):
    """Live twins for one browser session: its worker starts at once, a slot is taken while it trains."""

    kind = "twins"
    needs_viewer = True

    def __init__(self, server: JobServer, config: TrainConfig, steps: int, *, store: str | None) -> None:
        if not isinstance(config, TrainConfig):
            raise ValueError("live twins need a TrainConfig")
        if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
        super().__init__(server, {"config": config.to_dict(), "steps": steps,
                                  "store": None if store is None else str(store)})
        self.config = config
        self.total_steps = steps
        self._state = "starting"
        self.epoch = 1  # the worker's first build is epoch 1; each reset makes the next
        self.sent = 0  # commands sent to the worker
        self.handled = 0  # commands it has carried out
        self.waiting: tuple | None = None  # a train/step command in line for a slot
        self.buffers: dict[str, NetBuffer] = {}
        self.rate = 0.0
        self.record_error = ""
        self.run_ids: dict[str, int] = {}
        self.switched_on = set(range(len(config.model.block_names())))  # shortcut switches as last sent
        self.lock = threading.RLock()  # view() reads `steps_done` under the lock it holds

    @property
    def state(self) -> str:
        """The worker's state ("starting", "idle", "training", "paused", "finished", ...), or "queued"."""
        return "queued" if self.waiting is not None and self.alive else self._state

    @property
    def pending(self) -> bool:
        """Whether a command is not yet carried out (the page keeps redrawing until it is)."""
        return self.waiting is not None or self.handled < self.sent

    # -- commands -------------------------------------------------------------------------------
    def train(self) -> None:
        """Train until paused, finished or diverged (in line first if every slot is taken)."""
        self.server.request(self, ("train",))

    def step(self, n: int = 1) -> None:
        """Train exactly `n` more steps, then pause."""
        if not isinstance(n, int) or not 1 <= n <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
        self.server.request(self, ("step", n))

    def pause(self) -> None:
        """Stop after the current step (or leave the line); everything recorded stays."""
        self.server.leave_line(self)
        self.send(("pause",))

    def reset(self) -> None:
        """Discard the records and start again from the same initial weights."""
        self.server.leave_line(self)
        with self.lock:
            self.epoch += 1
            self.buffers, self.run_ids, self.rate = {}, {}, 0.0
            self.switched_on = set(range(len(self.config.model.block_names())))
        self.send(("reset",))

    def set_shortcut(self, i: int | None, on: bool) -> None:
        """Switch the residual twin's shortcut `i` (None: all) from its next step on."""
        self.switch([(i, on)])

    def _check_blocks(self, changes: Sequence[tuple[int | None, bool]]) -> int:
        """The number of blocks; a ValueError if a change names a block the net does not have."""
        n = len(self.config.model.block_names())
        for i, _ in changes:
            if i is not None and (not isinstance(i, int) or not 0 <= i < n):
                raise ValueError(f"block index must be between 0 and {n - 1}")
        return n

    def schedule(self, at: int, changes: Sequence[tuple[int | None, bool]]) -> None:
        """Switch shortcuts (block, on; None: every block) together just before the residual twin takes step
        `at`: the worker keeps the script, so the switch lands on that step exactly, and again after a reset.
        The view's events show it; `switched_on` follows only switches sent now."""
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= self.total_steps:
            raise ValueError(f"a scripted switch's step must be between 0 and {self.total_steps}; got {at!r}")
        self._check_blocks(changes)
        if changes:
            self.send(("schedule", at, [(i, bool(on)) for i, on in changes]))

    def switch(self, changes: Sequence[tuple[int | None, bool]]) -> None:
        """Switch several shortcuts (block, on) together: one command, so all take effect at the same step."""
        n = self._check_blocks(changes)
        for i, on in changes:
            blocks = range(n) if i is None else [i]
            self.switched_on = self.switched_on | set(blocks) if on else self.switched_on - set(blocks)
        if changes:
            self.send(("shortcuts", [(i, bool(on)) for i, on in changes]))

    def apply_shortcuts(self, on: set[int] | list[int]) -> list[tuple[int, bool]]:
        """Make exactly the blocks in `on` have their shortcut on: only the blocks that change are switched."""
        on = set(on)
        changes = [(i, False) for i in sorted(self.switched_on - on)]
        changes += [(i, True) for i in sorted(on - self.switched_on)]
        self.switch(changes)
        return changes

    def switch_changed(self, before: Iterable[int], now: Iterable[int]) -> list[tuple[int, bool]]:
        """Switch only the blocks whose pill changed from selection `before` to `now` (and are not in that state
        yet): a click sent while an older selection was on screen must not undo the switches made since."""
        before, now = set(before), set(now)
        changes = [(i, False) for i in sorted(before - now) if i in self.switched_on]
        changes += [(i, True) for i in sorted(now - before) if i not in self.switched_on]
        self.switch(changes)
        return changes

    def send(self, command: tuple) -> None:
        """Pass a command to the worker (dropped once it has ended)."""
        with self.lock:
            if self.conn is None or not self.alive:
                return
            self.sent += 1
            try:
                self.conn.send(command)
            except (OSError, ValueError):
                self.sent -= 1

    # -- the server's side ----------------------------------------------------------------------
    def granted(self) -> None:
        command, self.waiting = self.waiting, None
        if command is not None:
            self.send(command)

    def receive(self, message: tuple) -> None:
        kind = message[0]
        if kind == "state":
            _, epoch, state, text, handled, rate, record_error = message
            with self.lock:
                self.handled = handled
                if epoch == self.epoch:
                    self._state, self.message, self.rate, self.record_error = state, text, rate, record_error
        elif kind == "rows":
            _, epoch, role, payload = message
            with self.lock:
                if epoch == self.epoch:
                    self.buffers.setdefault(role, NetBuffer()).append(payload)
                    self.rate = payload["rate"]
        elif kind == "runs":
            with self.lock:
                self.run_ids = dict(message[1])
        else:
            super().receive(message)

    @property
    def training(self) -> bool:
        """Whether it trains now or is about to (the slot it holds is in use)."""
        return self._state == "training" or self.handled < self.sent

    def finished(self, reason: str) -> None:
        with self.lock:
            if self.failure or reason:
                self._state, self.message = "failed", self.failure or reason
            elif self._state not in ("finished", "diverged", "failed"):
                self._state = "stopped"
            self.waiting = None

    @property
    def steps_done(self) -> int:
        """Iterations done, as far as the server has the rows (the furthest twin)."""
        with self.lock:
            return max((b.step for b in self.buffers.values()), default=0)

    def view(self, max_points: int = 1000) -> RunView:
        """A consistent copy of the records, each series downsampled to `max_points` points."""
        with self.lock:
            names = self.config.model.block_names()
            nets = {role: self.buffers[role].view(max_points, self.run_ids.get(role)) if role in self.buffers else
                    empty_net(self.config.replace(residual=role == "residual").model.label, role == "residual", names)
                    for role in ROLES}
            return RunView(nets=nets, step=self.steps_done, total_steps=self.total_steps, state=self.state,
                           message=self.message, steps_per_sec=self.rate, live=True, config=self.spec["config"])
