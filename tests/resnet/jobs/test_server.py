"""The job server: worker processes, commands in, rows out, the line, death and shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from resnet.jobs import JobError, JobServer
from resnet.store import RunStore
from resnet.trainer import TrainConfig, train_twins
from tests.helpers import ROOT, pid_running, wait_for

MLP = TrainConfig(batch_size=32).replace(dataset="spirals", family="mlp", depth=6, width=8, norm="none", act="tanh")


@pytest.fixture
def server():
    s = JobServer(cap=1, limit=2, leave_line_after=1.0)
    yield s
    pids = [j.pid for j in s.jobs() if j.pid]
    s.shutdown()
    assert not s.jobs()
    for pid in pids:
        assert not pid_running(pid), f"worker {pid} outlived the server's shutdown"




def test_live_twins_train_in_a_worker_and_match_the_bare_loop(server: JobServer, tmp_path: Path) -> None:
    job = server.twins(MLP, 30, store=tmp_path / "runs.db")
    job.train()
    assert wait_for(lambda: job.state == "finished", 60), (job.state, job.message)
    assert job.pid != os.getpid()
    view = job.view()
    plain, residual = train_twins(MLP, steps=30)
    assert view.step == 30 and view.live
    np.testing.assert_allclose(view.nets["plain"].loss, plain.loss, rtol=1e-6)
    np.testing.assert_allclose(view.nets["residual"].grad_norm, residual.history.grad_norm, rtol=1e-5)
    assert list(view.nets["residual"].steps) == list(range(1, 31))
    store = RunStore(tmp_path / "runs.db")
    assert {store.run(i).status for i in job.run_ids.values()} == {"finished"}


def test_step_shortcut_and_reset(server: JobServer) -> None:
    job = server.twins(MLP, 100)
    job.set_shortcut(2, False)
    job.step(5)
    assert wait_for(lambda: job.view().step == 5 and job.state == "paused" and not job.pending, 60)
    view = job.view()
    assert view.nets["residual"].shortcuts[2] is False and view.nets["plain"].shortcuts == [False] * 6
    assert view.events == [(0, 2, False)]
    job.reset()
    assert job.view().step == 0  # the old rows are gone at once, and none of them come back
    assert wait_for(lambda: job.state == "idle" and not job.pending, 30)
    assert job.view().step == 0 and job.view().events == []


def test_a_second_job_waits_in_line_and_starts_when_the_slot_frees(server: JobServer, tmp_path: Path) -> None:
    first = server.twins(MLP, 10_000)
    first.train()
    assert wait_for(lambda: first.state == "training", 60)
    second = server.run(MLP, 5, store=tmp_path / "runs.db")
    third = server.call("resnet.nets:valid_cnn_depths", block="basic")
    assert (second.state, second.place, third.place) == ("queued", 1, 2)
    assert "place 1 of 2" in second.message
    with pytest.raises(JobError, match="line is full"):
        server.call("resnet.nets:valid_cnn_depths", block="basic")
    third.stop()  # Cancel: it leaves the line and never starts
    assert third.state == "cancelled" and third.pid is None and second.place == 1
    first.pause()
    assert wait_for(lambda: second.state == "done", 60), (second.state, second.message)
    assert second.result["status"] == "finished"


def test_a_queued_live_job_whose_tab_closed_leaves_the_line(server: JobServer) -> None:
    first = server.call("tests.helpers:slow_steps", steps=300, seconds=0.1)  # stoppable
    waiting = server.twins(MLP, 10)
    waiting.train()
    assert waiting.state == "queued"
    waiting.beat -= 10  # nobody has drawn it for 10 s
    assert wait_for(lambda: not waiting.alive, 10)
    assert server.waiting == 0
    first.stop()


def test_a_killed_worker_is_a_failed_job_and_its_runs_are_closed(server: JobServer, tmp_path: Path) -> None:
    job = server.twins(MLP, 100_000, store=tmp_path / "runs.db")
    job.train()
    assert wait_for(lambda: job.run_ids and job.view().step > 50, 60)
    os.kill(job.pid, signal.SIGKILL)
    assert wait_for(lambda: job.state == "failed", 10)
    assert "SIGKILL" in job.message
    store = RunStore(tmp_path / "runs.db")
    runs = [store.run(i) for i in job.run_ids.values()]
    assert {r.status for r in runs} == {"interrupted"} and all("SIGKILL" in r.message for r in runs)
    assert server.busy == 0  # its slot is free again


def test_an_exception_in_the_work_is_one_line(server: JobServer) -> None:
    job = server.call("resnet.nets:check_cnn_depth", depth=21, block="basic")
    assert wait_for(lambda: not job.alive, 30)
    assert job.state == "failed" and job.message.startswith("ValueError:") and "\n" not in job.message


def test_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from resnet.jobs import JobServer
        from tests.resnet.jobs.test_server import MLP
        if __name__ == "__main__":
            server = JobServer(cap=1)
            job = server.twins(MLP, 100_000)
            job.train()
            while job.state != "training":
                time.sleep(0.05)
            print(job.pid, flush=True)
            time.sleep(120)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())
        assert pid_running(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert wait_for(lambda: not pid_running(worker), 15), "the worker outlived its killed server"
    finally:
        proc.kill()
        proc.wait()


def test_the_cap_and_line_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet.jobs.server import max_jobs, queue_limit

    monkeypatch.delenv("GFL_MAX_WORKERS", raising=False)
    assert max_jobs() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("GFL_MAX_WORKERS", "3")
    monkeypatch.setenv("GFL_QUEUE_LIMIT", "7")
    assert (max_jobs(), queue_limit()) == (3, 7)
    monkeypatch.setenv("GFL_MAX_WORKERS", "lots")
    with pytest.raises(JobError, match="GFL_MAX_WORKERS"):
        max_jobs()


def test_cancel_stops_a_running_call(server: JobServer) -> None:
    job = server.call("tests.helpers:slow_steps", steps=200, seconds=0.05)
    assert wait_for(lambda: job.state == "running", 30)
    job.stop()
    assert wait_for(lambda: not job.alive, 10)
    assert job.state == "stopped" and job.result is None and server.busy == 0
