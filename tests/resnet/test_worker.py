"""The twin worker: commands in, records out, heartbeat, cap, divergence."""

from __future__ import annotations

import time

import numpy as np
import pytest

from resnet.store import RunStore, StoreError
from resnet.trainer import ModelSpec, TrainConfig
from resnet.worker import SLOTS, TwinWorker

TINY = TrainConfig(model=ModelSpec(family="mlp", depth=4, width=8, act="tanh", norm="none"),
                   dataset="spirals", lr=0.01, batch_size=32, test_every=5, device="cpu")


def wait_for(worker: TwinWorker, predicate, timeout: float = 30.0):
    """Poll snapshots (stamping the heartbeat) until `predicate(snapshot)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.heartbeat()
        snap = worker.snapshot()
        if predicate(snap):
            return snap
        time.sleep(0.02)
    raise AssertionError(f"timed out; last state {snap.state!r} at step {snap.step}: {snap.message}")


@pytest.fixture
def make_worker():
    made: list[TwinWorker] = []

    def make(config: TrainConfig = TINY, **kw) -> TwinWorker:
        w = TwinWorker(config, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()
        w.join(10)
        assert not w.alive


def test_trains_to_the_end_and_records_every_step(make_worker) -> None:
    w = make_worker(steps=40)
    w.train()
    snap = wait_for(w, lambda s: s.state == "finished")
    assert snap.step == 40
    for name, net in snap.nets.items():
        assert net.grad_norm.shape == (40, 4), name
        assert net.layer_grad_norm.shape[1] == 6  # stem, four units, head
        assert np.array_equal(net.steps, np.arange(40))
        assert len(net.loss) == 40 and np.isfinite(net.loss).all()
        assert list(net.test_steps) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert snap.nets["plain"].shortcuts == [False] * 4
    assert snap.nets["residual"].shortcuts == [True] * 4


def test_step_takes_exactly_n_steps_then_pauses(make_worker) -> None:
    w = make_worker(steps=100)
    w.step(3)
    snap = wait_for(w, lambda s: s.step == 3 and s.state == "paused")
    time.sleep(0.2)
    assert w.snapshot().step == 3
    assert len(snap.nets["plain"].steps) == 3


def test_pause_keeps_records_and_train_resumes(make_worker) -> None:
    w = make_worker(steps=10_000)
    w.train()
    wait_for(w, lambda s: s.step >= 5)
    w.pause()
    paused = wait_for(w, lambda s: s.state == "paused")
    time.sleep(0.2)
    held = w.snapshot().step
    assert held >= paused.step >= 5
    time.sleep(0.2)
    assert w.snapshot().step == held
    w.train()
    wait_for(w, lambda s: s.step >= held + 5)


def test_shortcut_toggle_mid_training_is_applied_and_marked(make_worker) -> None:
    w = make_worker(steps=10_000)
    w.train()
    wait_for(w, lambda s: s.step >= 3)
    w.set_shortcut(1, False)
    snap = wait_for(w, lambda s: s.nets["residual"].events)
    step, block, on = snap.nets["residual"].events[0]
    assert (block, on) == (1, False) and step >= 3
    assert snap.nets["residual"].shortcuts == [True, False, True, True]
    w.set_shortcut(None, False)
    snap = wait_for(w, lambda s: len(s.nets["residual"].events) == 2)
    assert snap.nets["residual"].shortcuts == [False] * 4


def test_reset_clears_records_and_restores_shortcuts(make_worker) -> None:
    w = make_worker(steps=10_000)
    w.step(5)
    wait_for(w, lambda s: s.step == 5)
    w.set_shortcut(0, False)
    w.reset()
    snap = wait_for(w, lambda s: s.state == "idle" and s.step == 0)
    assert snap.nets["residual"].shortcuts == [True] * 4
    assert len(snap.nets["residual"].steps) == 0 and not snap.nets["residual"].events


def test_stale_heartbeat_pauses_then_ends_the_worker() -> None:
    w = TwinWorker(TINY, steps=100_000, pause_after=0.3, stop_after=1.5)
    w.train()
    wait_for(w, lambda s: s.state == "training")
    time.sleep(0.6)  # nobody stamps the heartbeat
    snap = w.snapshot()
    assert snap.state == "paused" and "nobody is watching" in snap.message
    w.join(10)
    assert not w.alive
    assert w.snapshot().state == "stopped"


def test_cap_refuses_a_second_training_session_politely(make_worker, monkeypatch) -> None:
    monkeypatch.setenv("GFL_MAX_WORKERS", "1")
    first = make_worker(steps=100_000)
    first.train()
    wait_for(first, lambda s: s.state == "training")
    second = make_worker(steps=100)
    second.train()
    snap = wait_for(second, lambda s: "sessions are training" in s.message)
    assert snap.state == "idle" and snap.step == 0
    first.pause()
    wait_for(first, lambda s: s.state == "paused")
    assert SLOTS.busy() == 0
    second.train()
    wait_for(second, lambda s: s.state == "finished")


def test_divergence_stops_with_a_message_and_keeps_records(make_worker) -> None:
    w = make_worker(TINY.replace(lr=1e3, act="relu"), steps=500)
    w.train()
    snap = wait_for(w, lambda s: s.state == "diverged")
    assert "diverged" in snap.message and "Reset" in snap.message
    net = next(n for n in snap.nets.values() if n.status == "diverged")
    assert len(net.loss) >= 1 and not np.isfinite(net.loss[-1])
    assert len(net.steps) == len(net.loss)
    w.train()  # pressing Train again on a diverged run changes nothing
    time.sleep(0.3)
    assert w.snapshot().step == snap.step


def test_snapshot_downsamples_long_series_keeping_the_last_step(make_worker) -> None:
    w = make_worker(steps=60)
    w.train()
    wait_for(w, lambda s: s.state == "finished")
    snap = w.snapshot(max_points=10)
    net = snap.nets["residual"]
    assert len(net.steps) == 10 and net.steps[-1] == 59 and net.steps[0] == 0
    assert net.grad_norm.shape == (10, 4)
    assert len(net.curve_steps) == 10 and len(net.loss) == 10


def test_bad_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="steps must be between 1 and"):
        TwinWorker(TINY, steps=0)


def test_out_of_memory_becomes_a_message_not_a_dead_app(make_worker, monkeypatch) -> None:
    import torch

    from resnet.trainer import Trainer

    def no_memory(self) -> bool:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "step", no_memory)
    w = make_worker(steps=10)
    w.train()
    snap = wait_for(w, lambda s: s.state == "failed")
    assert "out of memory" in snap.message and "Reset" in snap.message
    assert SLOTS.busy() == 0


def test_a_store_keeps_both_twins_as_runs_with_every_step_and_toggle(make_worker, tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    w = make_worker(steps=12, store=store)
    assert w.snapshot().run_ids == {}  # nothing is recorded before the first step
    w.step(5)
    snap = wait_for(w, lambda s: s.state == "paused" and s.step == 5)
    assert set(snap.run_ids) == {"plain", "residual"} and not snap.record_error
    # A pause commits: what the page shows is in the store.
    for name, run_id in snap.run_ids.items():
        info = store.run(run_id)
        assert (info.status, info.steps, info.config.model.residual) == ("running", 5, name == "residual")
        history = store.history(run_id)
        np.testing.assert_allclose(history.grad_norm, snap.nets[name].grad_norm, rtol=1e-6)
    w.set_shortcut(1, False)
    w.train()
    snap = wait_for(w, lambda s: s.state == "finished")
    for name, run_id in snap.run_ids.items():
        info = store.run(run_id)
        assert (info.status, info.steps) == ("finished", 12), name
        assert len(store.history(run_id)) == 12
        assert np.array_equal(store.metrics(run_id).loss, np.asarray(snap.nets[name].loss, np.float32))
        assert store.load_model(run_id).shortcuts() == snap.nets[name].shortcuts
    assert [(b, on) for _, b, on in store.events(snap.run_ids["residual"])] == [(1, False)]


def test_reset_closes_the_runs_and_the_next_pair_gets_new_ones(make_worker, tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    w = make_worker(steps=50, store=store)
    w.step(3)
    first = wait_for(w, lambda s: s.state == "paused" and s.step == 3).run_ids
    w.reset()
    wait_for(w, lambda s: s.state == "idle" and s.step == 0)
    assert [store.run(i).status for i in first.values()] == ["stopped", "stopped"]
    w.step(2)
    second = wait_for(w, lambda s: s.state == "paused" and s.step == 2).run_ids
    assert set(second.values()).isdisjoint(first.values())
    assert [store.run(i).steps for i in second.values()] == [2, 2]


def test_a_failing_store_stops_recording_not_training(make_worker, tmp_path, monkeypatch) -> None:
    store = RunStore(tmp_path / "runs.db")

    def broken(*args, **kwargs):
        raise StoreError("disk full")

    monkeypatch.setattr(store, "append", broken)
    w = make_worker(steps=20, store=store)
    w.train()
    snap = wait_for(w, lambda s: s.state == "finished")
    assert snap.step == 20 and len(snap.nets["plain"].steps) == 20  # the page keeps everything
    assert "without being recorded" in snap.record_error and "disk full" in snap.record_error


def test_a_command_is_pending_until_carried_out(make_worker, tmp_path, monkeypatch) -> None:
    """A viewer polls while `pending` or training: no moment may show neither, or it stops redrawing."""
    store = RunStore(tmp_path / "runs.db")
    create = store.create_run

    def slow_create(*args, **kwargs):  # opening the runs takes a while, as on a busy disk
        time.sleep(0.3)
        return create(*args, **kwargs)

    monkeypatch.setattr(store, "create_run", slow_create)
    w = make_worker(steps=30, store=store)
    wait_for(w, lambda s: s.state == "idle")
    w.train()
    while True:
        pending = w.pending
        snap = w.snapshot()
        if snap.state != "idle":
            break
        assert pending, "the train command left the queue but the worker does not train yet"
        time.sleep(0.005)
    assert snap.state in ("training", "finished")
