"""A sweep sent to the Ray cluster from the app: the Tune driver runs as a job in a worker process, never in
the server; the page holds this handle, which answers as the in-process `SweepJob` does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resnet.store import RunStore
from resnet.sweeps.grid import SweepGrid, new_tag
from resnet.trainer import TrainConfig

TARGET = "resnet.sweeps.ray_tune:run_on_ray"
# The job's state in a sweep's words.
STATES = {"queued": "running", "starting": "running", "running": "running", "done": "finished",
          "failed": "failed", "stopped": "stopped", "cancelled": "stopped"}


@dataclass(frozen=True)
class TrialsProgress:
    """How far the cluster's trials are, as the driver reports it."""

    fraction: float
    text: str


class RaySweepJob:
    """A sweep of Ray Tune trials on the cluster at `address`, driven by a job of `server` (default: the app's)."""

    def __init__(self, store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
                 nets: Sequence[bool] = (False, True), address: str, server=None) -> None:
        self.grid = SweepGrid(base, tuple(depths), tuple(nets), seeds, (), steps)
        self.store = store
        self.address = address
        self.server = server
        self.tag = new_tag(base, steps)
        self._job = None

    def start(self) -> None:
        """Queue the driver's job (a JobError, a ValueError, when the server's line is full)."""
        from resnet.jobs import job_server

        g = self.grid
        self._job = (self.server or job_server()).call(
            TARGET, store=str(self.store.path), base=g.base.to_dict(), depths=list(g.depths), nets=list(g.nets),
            seeds=g.seeds, steps=g.steps, tag=self.tag, address=self.address)

    @property
    def state(self) -> str:
        """"ready", "running", "finished", "stopped" or "failed"."""
        return "ready" if self._job is None else STATES.get(self._job.state, self._job.state)

    @property
    def error(self) -> str:
        """Why it failed, in one line."""
        return "" if self._job is None else self._job.message

    @property
    def alive(self) -> bool:
        """Whether the driver's job has not ended."""
        return self._job is not None and self._job.alive

    def beat(self) -> None:
        """Say the page is still watching."""
        if self._job is not None:
            self._job.heartbeat()

    def stop(self) -> None:
        """Ask the driver's job to end."""
        if self._job is not None:
            self._job.stop()

    def progress(self) -> TrialsProgress:
        """The trials' progress as the driver last reported it."""
        if self._job is None:
            return TrialsProgress(0.0, "")
        return TrialsProgress(self._job.fraction, self._job.text or "waiting for the cluster")
