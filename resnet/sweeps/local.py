"""The local backend: a sweep's runs train side by side in worker processes on this machine's cores."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace

from resnet.store import RunStore
from resnet.sweeps.grid import GridPoint
from resnet.sweeps.progress import RunProgress

POLL_S = 0.2
STOP_WAIT_S = 60.0  # how long stopped workers get to close their runs before they are killed
# A job's state in a sweep's words (a job "done" ended as its run's status says).
STATES = {"queued": "queued", "starting": "starting", "running": "running", "paused": "running",
          "failed": "failed", "stopped": "stopped", "cancelled": "cancelled"}


def default_jobs() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


class LocalBackend:
    """Up to `jobs` runs at once, each in a worker process of a job server of its own, one torch thread each."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = default_jobs() if jobs is None else jobs
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or not 1 <= self.jobs <= 1024:
            raise ValueError(f"jobs must be an integer between 1 and 1024, got {self.jobs!r}")

    def run(self, store: RunStore, tag: str, points: Sequence[GridPoint], steps: int,
            on_progress=None) -> list[RunProgress]:
        """Queue every point on a job server capped at `jobs`; poll until all end. Ctrl-C stops them all."""
        from resnet.jobs import JobServer  # the forkserver starts only when a sweep does

        server = JobServer(cap=self.jobs, limit=max(1, len(points)))
        try:
            jobs = [server.run(p.config, steps, store=store.path, name=p.name, sweep=tag, responses=True)
                    for p in points]
            try:
                while True:
                    progress = [run_progress(p, job, steps) for p, job in zip(points, jobs, strict=True)]
                    if on_progress is not None:
                        on_progress(progress)
                    if all(not job.alive for job in jobs):
                        return _with_run_ids(store, tag, progress)
                    time.sleep(POLL_S)
            except KeyboardInterrupt:
                for job in jobs:
                    job.stop()  # each worker closes its run as "stopped"; queued ones leave the line
                deadline = time.monotonic() + STOP_WAIT_S
                for job in jobs:
                    job.join(max(0.0, deadline - time.monotonic()))
                raise
        finally:
            server.shutdown()


def _with_run_ids(store: RunStore, tag: str, progress: list[RunProgress]) -> list[RunProgress]:
    """Runs whose worker died before it said their id: found in the store by the worker's pid."""
    ids = {r.pid: r.id for r in store.runs(sweep=tag)}
    return [p if p.run_id is not None or p.pid not in ids else replace(p, run_id=ids[p.pid]) for p in progress]


def run_progress(point: GridPoint, job, steps: int) -> RunProgress:
    """A grid point's progress as a sweep's run: from its job once queued, else queued at step 0."""
    if job is None:
        return RunProgress(index=point.index, title=point.title, state="queued", step=0, steps=steps)
    p = job.progress
    result = job.result or {}
    state = result.get("status") if job.state == "done" and result else STATES.get(job.state, job.state)
    return RunProgress(index=point.index, title=point.title, state=state or "finished", step=int(p["step"]),
                       steps=steps, seconds=float(p["seconds"]), run_id=result.get("run_id"), pid=job.pid,
                       message=job.message)
