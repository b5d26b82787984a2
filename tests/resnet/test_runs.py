"""The run store: round trips, downsampling, weights, export/import, and the faults it must survive."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resnet.probes import ProbeHistory
from resnet.runs import MAX_POINTS, RunStore, StoreError, default_store_path, pid_alive, read_state_dict, record
from resnet.trainer import ModelSpec, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
TINY = TrainConfig(model=ModelSpec(family="mlp", depth=3, width=8, act="tanh", norm="none"), dataset="spirals",
                   test_every=5)


def tiny_trainer(steps: int = 23, **changes) -> Trainer:
    return Trainer(TINY.replace(**changes), total_steps=steps)


def recorded(store: RunStore, steps: int = 23, **changes) -> tuple[int, Trainer]:
    trainer = tiny_trainer(steps, **changes)
    run_id = record(store, trainer, flush_every=5)
    trainer.close()
    return run_id, trainer


def fake_history(steps: np.ndarray, blocks: int = 3, layers: int = 5) -> ProbeHistory:
    s = len(steps)
    grid = np.arange(s * blocks, dtype=np.float32).reshape(s, blocks) + 1
    return ProbeHistory(names=[f"block{i}" for i in range(blocks)], layer_names=[f"l{i}" for i in range(layers)],
                        steps=np.asarray(steps, np.int64), grad_norm=grid, input_grad_norm=2 * grid,
                        act_mean=-grid, act_std=grid / 10,
                        layer_grad_norm=np.arange(s * layers, dtype=np.float32).reshape(s, layers))


def bare_run(store: RunStore, total: int = 10) -> int:
    return store.create_run(TINY, total_steps=total, blocks=["block0", "block1", "block2"],
                            layers=[f"l{i}" for i in range(5)], sample_shape=(2,), num_classes=3, device="cpu")


def test_default_path_is_the_environment_variable() -> None:
    assert default_store_path() == Path(os.environ["GFL_STORE"])
    assert RunStore().path == Path(os.environ["GFL_STORE"])


def test_store_is_wal_and_sound(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "deep" / "folder" / "runs.db")
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity_check() == "ok"


def test_recorded_run_reads_back_what_the_trainer_saw() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 23)
    info = store.run(run_id)
    assert (info.status, info.steps, info.total_steps, info.name) == ("finished", 23, 23, "res-3")
    assert info.blocks == trainer.model.block_names() and info.sample_shape == (2,) and info.num_classes == 3
    assert info.config == trainer.config and info.pid == os.getpid()
    m = store.metrics(run_id)
    assert m.stride == 1
    np.testing.assert_array_equal(m.steps, np.arange(1, 24))
    np.testing.assert_allclose(m.loss, trainer.loss, rtol=1e-6)
    np.testing.assert_allclose(m.train_error, trainer.train_error)
    np.testing.assert_array_equal(m.test_steps, trainer.test_steps)
    np.testing.assert_allclose(m.test_error, trainer.test_error)
    h, ref = store.history(run_id), trainer.probe.history()
    np.testing.assert_array_equal(h.steps, ref.steps + 1)
    for stat in ("grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        np.testing.assert_allclose(getattr(h, stat), getattr(ref, stat), rtol=1e-6)
    s = store.summary(run_id)
    assert s.train_error == pytest.approx(np.mean(trainer.train_error[-2:]))  # last 10% of 23 steps: 2
    assert s.test_error == pytest.approx(trainer.test_error[-1])
    assert store.runs()[0].id == run_id


def test_newest_first_and_sweep_filter() -> None:
    store = RunStore()
    a = bare_run(store)
    b = store.create_run(TINY, total_steps=5, blocks=["b"], layers=["l"], sample_shape=(2,), num_classes=3,
                         device="cpu", sweep="s1")
    assert [r.id for r in store.runs()] == [b, a]
    assert [r.id for r in store.runs(sweep="s1")] == [b]
    assert [t for t, _, n in store.sweeps()] == ["s1"]
    assert [r.id for r in store.runs(limit=1)] == [b]


def test_readers_downsample_to_about_a_thousand_points() -> None:
    store = RunStore()
    run_id = bare_run(store, total=2500)
    steps = np.arange(2500)
    loss = np.linspace(2.0, 0.1, 2500)
    for start in range(0, 2500, 500):  # five batches, as a recorder commits them
        sl = slice(start, start + 500)
        store.append(run_id, first_step=start + 1, loss=loss[sl], train_error=np.full(500, 0.5),
                     tests=[(int(s) + 1, 0.25) for s in steps[sl] if (s + 1) % 2 == 0],
                     history=fake_history(steps[sl]))
    assert store.run(run_id).steps == 2500
    m = store.metrics(run_id)
    assert m.stride == 3 and len(m.steps) <= MAX_POINTS
    assert m.loss[0] == pytest.approx(loss[:3].mean()) and m.steps[0] == pytest.approx(2.0)
    assert len(m.test_steps) <= MAX_POINTS + 1 and m.test_steps[-1] == 2500
    h = store.history(run_id)
    assert len(h) <= MAX_POINTS + 1 and h.steps[0] == 1 and h.steps[-1] == 2500
    assert h.grad_norm.shape == (len(h), 3) and h.layer_grad_norm.shape == (len(h), 5)
    # Rows are samples, not averages: each is exactly what was recorded at its step.
    k = 7
    assert h.grad_norm[k, 1] == pytest.approx(3 * (h.steps[k] - 1) + 2)
    assert store.history(run_id, upto=100).steps.max() <= 100


def test_shortcut_events_are_recorded() -> None:
    store = RunStore()
    trainer = tiny_trainer(12)

    def switch(t: Trainer) -> None:
        if t.step_count == 4:
            t.set_shortcut(1, False)
        if t.step_count == 8:
            t.set_shortcut(None, True)

    run_id = record(store, trainer, on_step=switch, flush_every=3)
    trainer.close()
    assert store.events(run_id) == [(4, 1, False), (8, None, True)]


def test_weights_round_trip_into_a_rebuilt_model() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 10)
    model = store.load_model(run_id)
    x = trainer.data.test_x[:16]
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), trainer.model(x))
    assert not model.training


def test_runs_that_diverged_keep_no_weights_and_say_so() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 30, lr=1e3)
    assert trainer.status == "diverged"
    assert store.run(run_id).status == "diverged"
    with pytest.raises(StoreError, match="has no stored weights"):
        store.state_dict(run_id)


def test_a_bad_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    store = RunStore()
    run_id, _ = recorded(store, 5)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE weights SET state_dict = ? WHERE run = ?", (b"not a checkpoint", run_id))
    with pytest.raises(StoreError, match=f"the weights of run {run_id} is not a valid checkpoint") as err:
        store.load_model(run_id)
    assert "\n" not in str(err.value)


class Payload:
    """An object whose unpickling would run a command: weights_only must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_weights_never_unpickles_arbitrary_objects(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    buf = io.BytesIO()
    torch.save({"w": Payload(marker)}, buf)
    with pytest.raises(StoreError, match="not a valid checkpoint"):
        read_state_dict(buf.getvalue())
    assert not marker.exists()
    buf = io.BytesIO()
    torch.save([torch.zeros(2)], buf)
    with pytest.raises(StoreError, match="expected a state_dict"):
        read_state_dict(buf.getvalue())


def test_export_and_import_carry_everything(tmp_path: Path) -> None:
    store = RunStore()
    run_id, _ = recorded(store, 15)
    store.save_responses(run_id, ["a", "b"], [0.5, 0.25])
    path = store.export_run(run_id, tmp_path / "one.gflrun")
    assert not Path(f"{path}-wal").exists()  # one self-contained file
    with pytest.raises(StoreError, match="already exists"):
        store.export_run(run_id, path)
    other = RunStore(tmp_path / "laptop.db")
    bare_run(other)  # ids differ between stores
    (new,) = other.import_run(path)
    assert new != run_id or len(other.runs()) == 2
    a, b = store.snapshot(run_id), other.snapshot(new)
    assert a.info.config == b.info.config and b.info.status == "finished" and b.info.steps == 15
    np.testing.assert_array_equal(a.metrics.loss, b.metrics.loss)
    np.testing.assert_array_equal(a.history.grad_norm, b.history.grad_norm)
    assert other.responses(new)[0] == ["a", "b"]
    for k, v in store.state_dict(run_id).items():
        torch.testing.assert_close(other.state_dict(new)[k], v)
    mtime = path.stat().st_mtime_ns
    other.import_run(path)
    assert path.stat().st_mtime_ns == mtime  # importing reads the file, never writes it


def test_import_refuses_what_is_not_a_run_file(tmp_path: Path) -> None:
    store = RunStore()
    junk = tmp_path / "junk.gflrun"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(StoreError, match="is not a run file"):
        store.import_run(junk)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="is not a run file"):
        store.import_run(foreign)
    with pytest.raises(StoreError, match="no run file"):
        store.import_run(tmp_path / "missing.gflrun")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_export(tmp_path: Path, fmt: str) -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 12)
    paths = store.export_tables(run_id, tmp_path / "out", fmt)
    assert [p.name for p in paths] == [f"run-{run_id}-{t}.{fmt}" for t in ("steps", "blocks", "layers", "events")]
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    steps, blocks = read(paths[0]), read(paths[1])
    assert list(steps["step"]) == list(range(1, 13))
    np.testing.assert_allclose(steps["loss"], trainer.loss, rtol=1e-6)
    assert len(blocks) == 12 * 3 and list(blocks["name"][:3]) == trainer.model.block_names()
    with pytest.raises(ValueError, match="csv, parquet"):
        store.export_tables(run_id, tmp_path, "xlsx")


def test_delete_removes_every_row() -> None:
    store = RunStore()
    run_id, _ = recorded(store, 6)
    store.delete(run_id)
    with pytest.raises(StoreError, match=f"no run {run_id}"):
        store.run(run_id)
    with sqlite3.connect(store.path) as con:
        for table in ("metrics", "block_stats", "layer_stats", "weights"):
            assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_stopped_and_failed_runs_are_closed_properly() -> None:
    store = RunStore()
    trainer = tiny_trainer(50)
    run_id = record(store, trainer, should_stop=lambda: trainer.step_count >= 7)
    assert store.run(run_id).status == "stopped" and store.run(run_id).steps == 7
    assert store.state_dict(run_id)  # a stopped run keeps its weights
    trainer = tiny_trainer(50)

    def boom(t: Trainer) -> None:
        if t.step_count == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        record(store, trainer, on_step=boom)
    failed = store.runs()[0]
    assert (failed.status, failed.message, failed.steps) == ("failed", "disk on fire", 3)


def test_a_running_run_of_a_dead_process_reads_as_interrupted() -> None:
    store = RunStore()
    run_id = bare_run(store)
    assert store.run(run_id).status == "running"  # this process is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not pid_alive(dead.pid)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE runs SET pid = ? WHERE id = ?", (dead.pid, run_id))
    assert store.run(run_id).status == "interrupted"
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE runs SET host = 'another-machine' WHERE id = ?", (run_id,))
    assert store.run(run_id).status == "running"  # another machine's process cannot be checked


# ---- faults -------------------------------------------------------------------------------


def test_corrupt_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not sqlite" * 200)
    with pytest.raises(StoreError) as err:
        RunStore(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "not a valid run store" in message


def test_unwritable_store_path_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the run store's folder") as err:
        RunStore(blocker / "runs.db")
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError, match="is a folder"):
        RunStore(tmp_path)


def test_a_foreign_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE customers (name)")
    with pytest.raises(StoreError, match="not a run store"):
        RunStore(path)
    with sqlite3.connect(path) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["customers"]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_sigkill_mid_recording_leaves_a_sound_store_and_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "resnet", "train", "--model", "mlp", "--depth", "3", "--width", "8",
         "--dataset", "spirals", "--steps", "100000", "--store", str(path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: path.exists() and RunStore(path).runs() and RunStore(path).runs()[0].steps >= 1)
        time.sleep(1.0)  # let it be mid-batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = RunStore(path)
    assert store.integrity_check() == "ok"
    (run,) = store.runs()
    assert run.status == "interrupted" and 1 <= run.steps < 100000
    with sqlite3.connect(path) as con:
        n_metrics, last = con.execute("SELECT COUNT(loss), MAX(step) FROM metrics WHERE run = ?",
                                      (run.id,)).fetchone()
        n_block_steps = con.execute("SELECT COUNT(DISTINCT step) FROM block_stats").fetchone()[0]
    assert n_metrics == last == run.steps  # every committed step, no gap
    assert n_block_steps >= run.steps  # probe rows of the same batches
    assert len(store.metrics(run.id).loss) == run.steps


WRITER = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from resnet.runs import RunStore
from resnet.trainer import TrainConfig
from tests.resnet.test_runs import fake_history
store = RunStore(sys.argv[1])
run = store.create_run(TrainConfig(), total_steps=300, blocks=["b0", "b1", "b2"], layers=[f"l{{i}}" for i in range(5)],
                       sample_shape=(1, 16, 16), num_classes=10, device="cpu", name=sys.argv[2])
for step in range(300):  # one commit per step: as much lock contention as a writer can make
    store.append(run, first_step=step + 1, loss=[1.0], train_error=[0.5], history=fake_history(np.array([step])))
store.finish(run, "finished", seconds=1.0)
"""


def test_two_processes_write_one_store_without_locking_errors(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # fresh: both processes also race to create the schema
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    procs = [subprocess.Popen([sys.executable, str(script), str(path), name], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    store = RunStore(path)
    assert sorted(r.name for r in store.runs()) == ["a", "b"]
    assert all(r.steps == 300 and r.status == "finished" for r in store.runs())
    assert store.integrity_check() == "ok"
    assert json.loads(json.dumps([r.to_dict() for r in store.runs()]))  # rows stay JSON-able


def test_before_close_runs_before_the_final_status_only_for_trained_nets() -> None:
    store = RunStore()
    seen = []
    trainer = tiny_trainer(4)
    run_id = record(store, trainer, before_close=lambda rid, t: seen.append((rid, store.run(rid).status,
                                                                             t.step_count)))
    assert seen == [(run_id, "running", 4)] and store.run(run_id).status == "finished"
    diverging = tiny_trainer(30, lr=1e3)
    record(store, diverging, before_close=lambda rid, t: seen.append(rid))
    assert len(seen) == 1  # a diverged net is not a trained one
