"""Sweeps started from the app: each run a job of the job server, a slot each, not tied to a tab, found by tag."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resnet.jobs import JobError, JobServer
from resnet.store import RunStore
from resnet.sweeps.jobs import SweepJob, sweep_job
from resnet.trainer import TrainConfig
from tests.helpers import wait_for

SMALL = TrainConfig(test_every=5).replace(width=2)


@pytest.fixture
def server() -> Iterator[JobServer]:
    """One slot; queued jobs of closed tabs would leave the line at once, live twins pause at once."""
    s = JobServer(cap=1, limit=4, pause_after=0.2, stop_after=0.5, leave_line_after=0.2)
    yield s
    s.shutdown()


def test_a_sweep_trains_every_run_in_workers_with_no_page_watching(server: JobServer) -> None:
    store = RunStore()
    job = SweepJob(store, SMALL, [8, 14], steps=20, nets=[False], server=server)
    assert job.state == "ready"
    job.start()
    assert sweep_job(job.tag) is job  # a reopened page finds it by its tag
    assert wait_for(lambda: not job.alive, 120)  # nobody calls beat(): a sweep outlives its tab
    assert job.state == "finished" and job.failures == []
    runs = sorted(store.runs(sweep=job.tag), key=lambda r: r.id)
    assert [(r.depth, r.status, r.steps) for r in runs] == [(8, "finished", 20), (14, "finished", 20)]
    assert all(store.responses(r.id) is not None for r in runs)  # Fig. 7 is there too
    assert len({r.pid for r in runs}) == 2  # one worker process a run
    p = job.progress()
    assert p.fraction == pytest.approx(1.0) and p.text.startswith("2 of 2 runs done")


def test_stop_closes_the_training_run_and_starts_no_other(server: JobServer) -> None:
    store = RunStore()
    job = SweepJob(store, SMALL, [8, 14], steps=100_000, nets=[False], server=server)
    job.start()
    assert wait_for(lambda: job.runs()[0].step >= 2, 120)
    assert "plain-8 seed 0 digits: step" in job.progress().text
    job.stop()
    assert wait_for(lambda: not job.alive, 120)
    assert job.state == "stopped"
    (run,) = store.runs(sweep=job.tag)
    assert run.status == "stopped" and run.steps >= 2


def test_a_session_in_line_is_not_overtaken_by_the_rest_of_the_sweep(server: JobServer) -> None:
    store = RunStore()
    job = SweepJob(store, SMALL, [8, 14], steps=60, nets=[False], server=server)
    job.start()
    assert wait_for(lambda: job.runs()[0].step >= 1, 120)
    other = server.run(SMALL.replace(depth=8, residual=True), 5, store=store.path, name="other")
    assert wait_for(lambda: not job.alive and not other.alive, 120)
    first, second = (r.id for r in sorted(store.runs(sweep=job.tag), key=lambda r: r.depth))
    assert first < other.result["run_id"] < second


def test_a_full_line_is_said_at_once(server: JobServer) -> None:
    store = RunStore()
    blockers = [server.run(SMALL, 100_000, store=store.path) for _ in range(5)]  # one training, four in line
    try:
        with pytest.raises(JobError, match="the line is full"):
            SweepJob(store, SMALL, [8], steps=5, server=server).start()
    finally:
        for b in blockers:
            b.stop()
        for b in blockers:
            b.join(60)


def test_a_bad_grid_is_refused_before_anything_is_queued(server: JobServer) -> None:
    with pytest.raises(ValueError, match="no local copy of cifar10 under /nonexistent; choose one of: digits"):
        SweepJob(RunStore(), SMALL.replace(dataset="cifar10", data_root="/nonexistent"), [8], steps=5, server=server)
    assert server.jobs() == []
