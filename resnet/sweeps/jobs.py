"""Sweeps started from the app: a sweep's runs are jobs of the app's job server, or Ray Tune trials driven by
one job; a sweep is not tied to the tab that started it, and every page finds it again by its tag.

Locally each running run takes one slot of the job server, as a live pair does, and the sweep queues its next
run only when one of its own ends, so a session waiting in line is not overtaken by the rest of the grid.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from resnet.jobs import JobError, job_server
from resnet.store import RunStore
from resnet.sweeps.grid import GridPoint, SweepGrid, new_tag
from resnet.sweeps.local import run_progress
from resnet.sweeps.progress import RunProgress, fraction
from resnet.trainer import TrainConfig

RETRY_S = 1.0  # a full line is asked again this often
RAY_TARGET = "resnet.sweeps.ray_tune:run_on_ray"
RAY_STATES = {"queued": "running", "starting": "running", "running": "running", "done": "finished",
              "failed": "failed", "stopped": "stopped", "cancelled": "stopped"}

_SWEEPS: dict[str, SweepJob | RaySweepJob] = {}
_SWEEPS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SweepProgress:
    """How far a sweep is: the share of its steps done and one line for the progress bar."""

    fraction: float
    text: str


def sweep_job(tag: str) -> SweepJob | RaySweepJob | None:
    """The sweep `tag` started in this server, running or ended, if any."""
    with _SWEEPS_LOCK:
        return _SWEEPS.get(tag)


def _register(job: SweepJob | RaySweepJob) -> None:
    with _SWEEPS_LOCK:
        _SWEEPS[job.tag] = job


class SweepJob:
    """A sweep's runs trained side by side in worker processes of `server` (default: the app's job server)."""

    def __init__(self, store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
                 nets: Sequence[bool] = (False, True), server=None) -> None:
        self.grid = SweepGrid(base, tuple(depths), tuple(nets), seeds, (), steps)
        self.store = store
        self.server = server
        self.tag = new_tag(base, steps)
        self.points: list[GridPoint] = self.grid.points()
        self.error = ""
        self._jobs: dict[int, object] = {}  # grid index -> its RunJob, once queued
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._waiting = ""  # why the next run is not queued yet
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Queue the first runs (a JobError when the server's line has no room even for one)."""
        server = self.server or job_server()
        self.server = server
        pending = deque(self.points)
        self._queue(pending.popleft())  # a full line is the user's answer now, not a silent wait
        self._thread = threading.Thread(target=self._feed, args=(pending,), name=f"gfl-sweep {self.tag}",
                                        daemon=True)
        self._thread.start()
        _register(self)

    def _queue(self, point: GridPoint) -> None:
        job = self.server.run(point.config, self.grid.steps, store=self.store.path, name=point.name, sweep=self.tag,
                              responses=True)
        with self._lock:
            self._jobs[point.index] = job

    def _active(self) -> list:
        with self._lock:
            return [job for job in self._jobs.values() if job.alive]

    def _feed(self, pending: deque[GridPoint]) -> None:
        """Keep as many of the sweep's runs queued or training as the server has slots, until all have ended."""
        try:
            while pending and not self._stop.is_set():
                if len(self._active()) >= self.server.cap:
                    time.sleep(0.2)
                    continue
                try:
                    self._queue(pending[0])
                    pending.popleft()
                    self._waiting = ""
                except JobError as err:
                    if "shut down" in str(err):
                        raise
                    self._waiting = str(err)
                    self._stop.wait(RETRY_S)
            for job in self._active():
                while job.alive and not self._stop.is_set():
                    job.join(0.2)
            if self._stop.is_set():
                for job in self._active():
                    job.stop()
        except Exception as err:  # noqa: BLE001 - the page shows why the sweep ended
            self.error = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            for job in self._active():
                job.stop()

    def stop(self) -> None:
        """Stop the sweep: its training runs close as "stopped", the rest are not started."""
        self._stop.set()
        for job in self._active():
            job.stop()

    def beat(self) -> None:
        """Nothing to do: a sweep runs to its end whether or not a page watches it."""

    @property
    def alive(self) -> bool:
        """Whether the sweep still has runs to train."""
        return self._thread is not None and (self._thread.is_alive() or bool(self._active()))

    @property
    def state(self) -> str:
        """"ready", "running", "finished", "stopped" or "failed"."""
        if self._thread is None:
            return "ready"
        if self.alive:
            return "running"
        if self.error:
            return "failed"
        if self._stop.is_set():
            return "stopped"
        runs = self.runs()
        return "failed" if runs and all(p.state == "failed" for p in runs) else "finished"

    @property
    def failures(self) -> list[str]:
        """One line for each run that failed: its net and why."""
        return [f"{p.title}: {p.message or 'failed'}" for p in self.runs() if p.state == "failed"]

    def runs(self) -> list[RunProgress]:
        """Every grid point's progress (points not queued yet read as queued at step 0)."""
        with self._lock:
            jobs = dict(self._jobs)
        return [run_progress(p, jobs.get(p.index), self.grid.steps) for p in self.points]

    def progress(self) -> SweepProgress:
        """The sweep's progress for the page's bar."""
        runs = self.runs()
        done = sum(p.ended for p in runs)
        training = [p for p in runs if p.state == "running"]
        parts = [f"{done} of {len(runs)} runs done"]
        parts += [f"{p.title}: step {p.step}/{p.steps}, {p.rate:.1f} it/s" for p in training]
        queued = [job for job in self._active() if job.state == "queued"]
        if not training and queued:
            parts.append(queued[0].message)
        elif self._waiting:
            parts.append(self._waiting)
        return SweepProgress(fraction(runs), " · ".join(parts))


class RaySweepJob:
    """A sweep of Ray Tune trials on the cluster at `address`, driven by a job of `server` (default: the app's)."""

    def __init__(self, store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
                 nets: Sequence[bool] = (False, True), address: str, server=None) -> None:
        self.grid = SweepGrid(base, tuple(depths), tuple(nets), seeds, (), steps)
        self.store = store
        self.address = address
        self.server = server
        self.tag = new_tag(base, steps)
        self.failures: list[str] = []
        self._job = None

    def start(self) -> None:
        """Queue the driver's job (a JobError when the server's line is full)."""
        g = self.grid
        self._job = (self.server or job_server()).call(
            RAY_TARGET, store=str(self.store.path), base=g.base.to_dict(), depths=list(g.depths), nets=list(g.nets),
            seeds=g.seeds, steps=g.steps, tag=self.tag, address=self.address)
        _register(self)

    @property
    def state(self) -> str:
        """"ready", "running", "finished", "stopped" or "failed"."""
        return "ready" if self._job is None else RAY_STATES.get(self._job.state, self._job.state)

    @property
    def error(self) -> str:
        """Why it failed, in one line."""
        return "" if self._job is None else self._job.message

    @property
    def alive(self) -> bool:
        """Whether the driver's job has not ended."""
        return self._job is not None and self._job.alive

    def beat(self) -> None:
        """Nothing to do: the driver runs to its end whether or not a page watches it."""

    def stop(self) -> None:
        """Ask the driver's job to end (it stops the trials at their next report)."""
        if self._job is not None:
            self._job.stop()

    def progress(self) -> SweepProgress:
        """The trials' progress as the driver last reported it."""
        if self._job is None:
            return SweepProgress(0.0, "")
        return SweepProgress(self._job.fraction, self._job.text or "waiting for the cluster")
