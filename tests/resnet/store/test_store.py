"""The run store: round trips, downsampling, deletion, and the faults it must survive."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from resnet.store import MAX_POINTS, RunStore, StoreError, default_store_path, pid_alive
from tests.resnet.store.helpers import ROOT, TINY, bare_run, fake_history, recorded


def test_default_path_is_the_environment_variable() -> None:
    assert default_store_path() == Path(os.environ["GFL_STORE"])
    assert RunStore().path == Path(os.environ["GFL_STORE"])


def test_store_is_wal_and_sound(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "deep" / "folder" / "runs.db")
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity_check() == "ok"


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


def test_delete_removes_every_row() -> None:
    store = RunStore()
    run_id, _ = recorded(store, 6)
    store.delete(run_id)
    with pytest.raises(StoreError, match=f"no run {run_id}"):
        store.run(run_id)
    with sqlite3.connect(store.path) as con:
        for table in ("metrics", "block_stats", "layer_stats", "weights"):
            assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


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
         "--dataset", "spirals", "--steps", "100000", "--full", "--store", str(path)],
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
    # Read at full resolution: a fast machine records past the curves' default point budget in that second.
    assert len(store.metrics(run.id, max_points=max(2, run.steps)).loss) == run.steps


WRITER = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from resnet.store import RunStore
from resnet.trainer import TrainConfig
from tests.resnet.store.helpers import fake_history
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


def test_a_broken_run_never_hides_the_others() -> None:
    store = RunStore()
    good, bad, other = bare_run(store), bare_run(store), bare_run(store, sweep="s")
    store.finish(bad, "stopped", seconds=0.0)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE runs SET config = json_set(config, '$.model.depth', 'deep') WHERE id = ?", (bad,))
    assert [r.id for r in store.runs()] == [other, good]
    assert [r.id for r in store.runs(sweep="s")] == [other]
    ((run_id, name, why),) = store.broken()
    assert (run_id, name) == (bad, "res-3") and "has a config this version cannot read" in why
    with pytest.raises(StoreError, match=f"run {bad} has a config this version cannot read"):
        store.run(bad)
    store.delete(bad)  # a broken run can still be removed
    assert store.broken() == [] and len(store.runs()) == 2


def test_read_only_refuses_delete_and_import_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore()
    run_id = bare_run(store)
    store.finish(run_id, "finished", seconds=0.0)
    path = store.export_run(run_id, tmp_path / "one.gflrun")
    monkeypatch.setenv("GFL_READ_ONLY", "1")
    for act, call in (("delete runs", lambda: store.delete(run_id)), ("import runs", lambda: store.import_run(path))):
        with pytest.raises(StoreError, match=f"cannot {act}: this lab is read-only \\(GFL_READ_ONLY=1"):
            call()
    assert [r.id for r in store.runs()] == [run_id]
    monkeypatch.setenv("GFL_READ_ONLY", "perhaps")
    with pytest.raises(ValueError, match="GFL_READ_ONLY must be 1 or 0, got 'perhaps'"):
        store.delete(run_id)
    monkeypatch.setenv("GFL_READ_ONLY", "0")
    store.delete(run_id)
    assert store.runs() == []
