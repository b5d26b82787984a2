"""Live twins in a worker process: commands in, records out, heartbeat, the line, divergence, the store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from resnet.jobs import JobServer, TwinsJob
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig
from tests.helpers import pid_running, wait_for

TINY = TrainConfig(model=ModelSpec(family="mlp", depth=4, width=8, act="tanh", norm="none"),
                   dataset="spirals", lr=0.01, batch_size=32, test_every=5, device="cpu")


@pytest.fixture
def make_server():
    """JobServers made on demand; each is shut down after the test and its workers must be gone."""
    made: list[JobServer] = []

    def make(cap: int = 2, limit: int = 4, **kw) -> JobServer:
        s = JobServer(cap=cap, limit=limit, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        pids = [j.pid for j in s.jobs() if j.pid]
        s.shutdown()
        assert not s.jobs()
        for pid in pids:
            assert not pid_running(pid), f"worker {pid} outlived the server's shutdown"


@pytest.fixture
def server(make_server) -> JobServer:
    return make_server()


def settled(job: TwinsJob, state: str, step: int | None = None) -> bool:
    """Whether `job` is in `state` (at `step` iterations) with no command outstanding."""
    return job.state == state and not job.pending and (step is None or job.view().step == step)


def test_trains_to_the_end_and_records_every_step(server: JobServer) -> None:
    job = server.twins(TINY, 40)
    job.train()
    assert wait_for(lambda: job.state == "finished", 60), (job.state, job.message)
    view = job.view()
    assert view.step == 40 and view.total_steps == 40 and view.live
    for role, net in view.nets.items():
        assert net.grad_norm.shape == (40, 4), role
        assert net.layer_grad_norm.shape == (40, 6)  # stem, four units, head
        assert np.array_equal(net.steps, np.arange(1, 41))  # iterations done, 1-based
        assert len(net.loss) == 40 and np.isfinite(net.loss).all()
        assert list(net.test_steps) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert view.nets["plain"].shortcuts == [False] * 4
    assert view.nets["residual"].shortcuts == [True] * 4
    assert wait_for(lambda: server.busy == 0, 10)  # a finished pair gives its slot back


def test_step_takes_exactly_n_steps_then_pauses(server: JobServer) -> None:
    job = server.twins(TINY, 100)
    job.step(3)
    assert wait_for(lambda: settled(job, "paused", 3), 60), (job.state, job.view().step)
    time.sleep(0.3)
    view = job.view()
    assert view.step == 3 and len(view.nets["plain"].steps) == 3 and list(view.nets["residual"].steps) == [1, 2, 3]


def test_pause_keeps_records_and_train_resumes(server: JobServer) -> None:
    job = server.twins(TINY, 10_000)
    job.train()
    assert wait_for(lambda: job.view().step >= 5, 60)
    job.pause()
    assert wait_for(lambda: settled(job, "paused"), 10), job.state
    held = job.view().step
    assert held >= 5
    time.sleep(0.3)
    assert job.view().step == held and len(job.view().nets["residual"].steps) == held
    job.train()
    assert wait_for(lambda: job.view().step >= held + 5, 30)


def test_shortcut_toggle_mid_training_is_applied_and_marked(server: JobServer) -> None:
    job = server.twins(TINY, 10_000)
    job.train()
    assert wait_for(lambda: job.view().step >= 3, 60)
    job.set_shortcut(1, False)
    assert wait_for(lambda: job.view().events, 10)
    view = job.view()
    step, block, on = view.events[0]
    assert (block, on) == (1, False) and step >= 3
    assert wait_for(lambda: job.view().nets["residual"].shortcuts == [True, False, True, True], 10)
    job.set_shortcut(None, False)
    assert wait_for(lambda: len(job.view().events) == 2, 10)
    assert wait_for(lambda: job.view().nets["residual"].shortcuts == [False] * 4, 10)
    assert job.view().nets["plain"].shortcuts == [False] * 4 and job.view().nets["plain"].events == []


def test_scripted_switches_land_on_their_steps_exactly_and_again_after_a_reset(server: JobServer,
                                                                            tmp_path: Path) -> None:
    job = server.twins(TINY, 30, store=tmp_path / "runs.db")
    job.schedule(12, [(None, True)])  # sent out of order: the worker keeps them in step order
    job.schedule(5, [(1, False), (2, False)])
    with pytest.raises(ValueError, match="between 0 and 30"):
        job.schedule(31, [(1, False)])
    with pytest.raises(ValueError, match="between 0 and 3"):
        job.schedule(3, [(4, False)])
    job.train()
    assert wait_for(lambda: job.state == "finished", 60)
    script = [(5, 1, False), (5, 2, False), (12, None, True)]
    assert job.view().events == script
    assert RunStore(tmp_path / "runs.db").events(job.run_ids["residual"]) == script
    job.reset()
    job.train()
    assert wait_for(lambda: job.state == "finished" and job.view().step == 30, 60)
    assert job.view().events == script


def test_shortcuts_switched_together_take_effect_at_one_step(server: JobServer) -> None:
    # The pills, "All off" and a talk's scripted range send one command: every switch lands on the same step
    # (one at a time, the worker took training steps between them and the heatmap got a mark per step).
    job = server.twins(TINY, 10_000)
    job.train()
    assert wait_for(lambda: job.view().step >= 3, 60)
    assert job.apply_shortcuts([0]) == [(1, False), (2, False), (3, False)]
    assert wait_for(lambda: len(job.view().events) == 3, 10)
    steps = {step for step, _, _ in job.view().events}
    assert len(steps) == 1 and [(b, on) for _, b, on in job.view().events] == [(1, False), (2, False), (3, False)]
    assert wait_for(lambda: job.view().nets["residual"].shortcuts == [True, False, False, False], 10)
    with pytest.raises(ValueError, match="between 0 and 3"):
        job.switch([(1, True), (9, True)])  # refused whole: nothing of it is sent or remembered
    assert job.switched_on == {0}


def test_a_stale_selection_switches_only_the_pills_it_changed(server: JobServer) -> None:
    job = server.twins(TINY, 10_000)  # four blocks, every shortcut on
    assert job.switch_changed({0, 1, 2, 3}, {0, 2, 3}) == [(1, False)]
    job.apply_shortcuts([])  # All off, while the page still shows the pills above
    # A click on that old selection: pill 2 cut (already off) and pill 1 restored. Only the restore is sent;
    # the older pills' state is not sent back, so All off is not undone.
    assert job.switch_changed({0, 2, 3}, {0, 1, 3}) == [(1, True)]
    assert job.switched_on == {1}
    assert job.switch_changed({1}, {1}) == []


def test_reset_clears_records_and_restores_shortcuts(server: JobServer) -> None:
    job = server.twins(TINY, 10_000)
    job.step(5)
    assert wait_for(lambda: settled(job, "paused", 5), 60)
    job.set_shortcut(0, False)
    job.reset()
    assert wait_for(lambda: settled(job, "idle", 0), 30), job.state
    assert len(job.view().nets["residual"].steps) == 0 and not job.view().events
    job.step(1)  # the rows of the rebuilt twins say what the worker's net has, not the empty view's default
    assert wait_for(lambda: settled(job, "paused", 1), 30)
    assert job.view().nets["residual"].shortcuts == [True] * 4 and job.view().events == []


def test_a_stale_heartbeat_pauses_then_ends_the_job(make_server) -> None:
    server = make_server(pause_after=0.5, stop_after=2.5)
    job = server.twins(TINY, 100_000)
    job.train()

    def watched_training() -> bool:
        job.heartbeat()
        return job.state == "training"

    assert wait_for(watched_training, 60), job.state
    # From now on nobody stamps the heartbeat.
    assert wait_for(lambda: job.state == "paused", 5), job.state
    assert "nobody is watching" in job.message, job.message  # a viewer who comes back is told why it paused
    paused_at = job.view().step
    assert job.alive
    assert job.join(10)
    assert not job.alive and job.state == "stopped"
    assert job.view().step == paused_at  # paused means paused: no step between the pause and the end
    assert not pid_running(job.pid)


def test_an_unwatched_recording_job_is_paused_once_not_again_and_again(make_server, tmp_path: Path) -> None:
    """Each pause commits to the store and answers with rows before its state: the server must not take those
    rows for "still training" and ask again, or the worker spins on pauses at a full core."""
    server = make_server(pause_after=0.3, stop_after=60)
    job = server.twins(TINY, 100_000, store=tmp_path / "runs.db")
    job.train()

    def watched_training() -> bool:
        job.heartbeat()
        return job.state == "training" and bool(job.run_ids)

    assert wait_for(watched_training, 60), job.state
    assert wait_for(lambda: job.state == "paused", 10), job.state
    sent = job.sent
    time.sleep(2.0)  # four pause deadlines later
    assert job.sent == sent and job.state == "paused"
    with open(f"/proc/{job.pid}/stat") as f:
        ticks = sum(int(v) for v in f.read().split(")")[-1].split()[11:13])
    time.sleep(1.0)
    with open(f"/proc/{job.pid}/stat") as f:
        busy = sum(int(v) for v in f.read().split(")")[-1].split()[11:13]) - ticks
    assert busy < 30, f"the paused worker used {busy} clock ticks in one second"  # 100 ticks: a full core


def test_the_cap_puts_a_second_pair_in_line_rather_than_refusing_it(make_server) -> None:
    server = make_server(cap=1)
    first = server.twins(TINY, 100_000)
    first.train()
    assert wait_for(lambda: first.state == "training", 60)
    second = server.twins(TINY, 20)
    second.train()
    assert (second.state, second.place) == ("queued", 1)
    assert "place 1 of 1" in second.message
    time.sleep(0.5)
    assert second.view().step == 0 and second.state == "queued"
    first.pause()
    assert wait_for(lambda: second.state == "finished", 60), (second.state, second.message)
    assert first.state == "paused" and second.place is None and second.view().step == 20
    assert wait_for(lambda: server.busy == 0, 10)


def test_divergence_stops_with_a_message_and_keeps_records(server: JobServer) -> None:
    job = server.twins(TINY.replace(lr=1e4, act="relu"), 500)
    job.train()
    assert wait_for(lambda: job.state == "diverged", 60), (job.state, job.message)
    assert "diverged" in job.message and "Reset" in job.message
    view = job.view()
    net = next(n for n in view.nets.values() if n.status == "diverged")
    assert len(net.loss) >= 1 and not np.isfinite(net.loss[-1])
    assert len(net.steps) == len(net.loss) == view.step < 500
    job.train()  # pressing Train again on a diverged run changes nothing
    assert wait_for(lambda: not job.pending, 10)
    time.sleep(0.3)
    assert job.state == "diverged" and job.view().step == view.step


def test_view_downsamples_long_series_keeping_the_last_step(server: JobServer) -> None:
    job = server.twins(TINY, 60)
    job.train()
    assert wait_for(lambda: job.state == "finished", 60)
    net = job.view(max_points=10).nets["residual"]
    assert len(net.steps) == 10 and net.steps[0] == 1 and net.steps[-1] == 60
    assert net.grad_norm.shape == (10, 4) and net.layer_grad_norm.shape == (10, 6)
    assert len(net.curve_steps) == 10 and len(net.loss) == 10 and net.curve_steps[-1] == 60
    assert len(job.view().nets["residual"].steps) == 60  # the buffer keeps every row


def test_bad_steps_are_refused(server: JobServer) -> None:
    with pytest.raises(ValueError, match="steps must be between 1 and"):
        server.twins(TINY, 0)
    assert not server.jobs()  # a refused pair starts no worker
    job = server.twins(TINY, 10)
    with pytest.raises(ValueError, match="steps must be between 1 and"):
        job.step(0)
    with pytest.raises(ValueError, match="block index"):
        job.set_shortcut(4, False)


def test_a_store_keeps_both_twins_as_a_pair_with_every_step_and_toggle(server: JobServer, tmp_path: Path) -> None:
    job = server.twins(TINY, 12, store=tmp_path / "runs.db")
    assert job.run_ids == {}  # nothing is recorded before the first step
    job.step(5)
    assert wait_for(lambda: settled(job, "paused", 5), 60), (job.state, job.message)
    view = job.view()
    assert set(job.run_ids) == {"plain", "residual"} and not job.record_error
    store = RunStore(tmp_path / "runs.db")
    # A pause commits: what the page shows is in the store.
    for role, run_id in job.run_ids.items():
        info = store.run(run_id)
        assert (info.status, info.steps, info.config.model.residual) == ("running", 5, role == "residual")
        assert view.nets[role].run_id == run_id
        np.testing.assert_allclose(store.history(run_id).grad_norm, view.nets[role].grad_norm, rtol=1e-6)
    plain, residual = store.pair(store.run(job.run_ids["plain"]).pair)
    assert (plain.id, residual.id) == (job.run_ids["plain"], job.run_ids["residual"])
    job.set_shortcut(1, False)
    job.train()
    assert wait_for(lambda: job.state == "finished", 60), (job.state, job.message)
    view = job.view()
    for role, run_id in job.run_ids.items():
        info = store.run(run_id)
        assert (info.status, info.steps) == ("finished", 12), role
        assert len(store.history(run_id)) == 12
        assert np.array_equal(store.metrics(run_id).loss, np.asarray(view.nets[role].loss, np.float32))
        assert store.load_model(run_id).shortcuts() == view.nets[role].shortcuts
    assert [(b, on) for _, b, on in store.events(job.run_ids["residual"])] == [(1, False)]
    assert store.events(job.run_ids["residual"]) == view.events


def test_reset_closes_the_runs_and_the_next_pair_gets_new_ones(server: JobServer, tmp_path: Path) -> None:
    job = server.twins(TINY, 50, store=tmp_path / "runs.db")
    job.step(3)
    assert wait_for(lambda: settled(job, "paused", 3), 60)
    first = dict(job.run_ids)
    job.reset()
    assert wait_for(lambda: settled(job, "idle", 0), 30)
    store = RunStore(tmp_path / "runs.db")
    assert [store.run(i).status for i in first.values()] == ["stopped", "stopped"]
    job.step(2)
    assert wait_for(lambda: settled(job, "paused", 2) and len(job.run_ids) == 2, 30)
    second = dict(job.run_ids)
    assert set(second.values()).isdisjoint(first.values())
    assert [store.run(i).steps for i in second.values()] == [2, 2]
    assert store.run(second["plain"]).pair != store.run(first["plain"]).pair
    plain, residual = store.pair(store.run(second["plain"]).pair)
    assert (plain.id, residual.id) == (second["plain"], second["residual"])


def test_a_failing_store_stops_recording_not_training(server: JobServer, tmp_path: Path) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    job = server.twins(TINY, 20, store=folder)  # a store path that names a folder cannot be opened
    job.train()
    assert wait_for(lambda: job.state == "finished", 60), (job.state, job.message)
    view = job.view()
    assert view.step == 20 and len(view.nets["plain"].steps) == 20  # the page keeps everything
    assert "without being recorded" in job.record_error and "folder" in job.record_error
    assert job.run_ids == {} and list(folder.iterdir()) == []


def test_a_command_is_pending_until_carried_out(server: JobServer, tmp_path: Path) -> None:
    """A viewer polls while `pending` or training: no moment may show neither, or it stops redrawing."""
    job = server.twins(TINY, 30, store=tmp_path / "runs.db")
    assert wait_for(lambda: job.state == "idle", 60), job.state
    assert not job.pending
    job.train()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = job.pending  # read before the state: a command carried out in between shows in the state
        state = job.state
        if state != "idle":
            break
        assert pending, "the train command was sent but the job neither trains nor says a command is pending"
        time.sleep(0.002)
    assert state in ("training", "finished")
    assert wait_for(lambda: job.state == "finished" and not job.pending, 60)
