"""Imports: run files from elsewhere, and files that are not run files."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet.store import SCHEMA_VERSION, RunStore, StoreError
from tests.resnet.store.helpers import Payload, bare_run, recorded, v1_store


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


def test_a_version_1_run_file_comes_in_with_new_keys(tmp_path: Path) -> None:
    store = RunStore()
    old = v1_store(tmp_path / "old.gflrun")
    imported = store.import_run(old)
    assert len(imported.ids) == 2 and not imported.skipped
    infos = [store.run(i) for i in imported.ids]
    assert [r.name for r in infos] == ["old-0", "old-1"] and len({r.key for r in infos}) == 2
    np.testing.assert_allclose(store.metrics(imported.ids[0]).loss, [1.0, 0.5])
    with sqlite3.connect(old) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 1  # the file itself is left as it was


def test_a_run_file_of_a_newer_version_is_refused_and_says_so(tmp_path: Path) -> None:
    store = RunStore()
    newer = RunStore(tmp_path / "newer.db")
    bare_run(newer)
    with sqlite3.connect(newer.path) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer.db was written by a newer version of the lab"):
        store.import_run(newer.path)
    assert store.runs() == []


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sound run file of two recorded runs (with weights, probe rows, metrics)."""
    folder = tmp_path_factory.mktemp("good")
    store = RunStore(folder / "source.db")
    first, _ = recorded(store, 8)
    second, _ = recorded(store, 6)
    path = store.export_run(first, folder / "two.gflrun")
    with sqlite3.connect(path) as con:  # add the second run to the same file
        con.execute("ATTACH DATABASE ? AS src", (str(store.path),))
        con.execute(f"INSERT INTO runs SELECT * FROM src.runs WHERE id = {second}")
        for table in ("metrics", "block_stats", "layer_stats", "events", "responses", "weights"):
            con.execute(f"INSERT INTO {table} SELECT * FROM src.{table} WHERE run = {second}")
    return path


def hostile(run_file: Path, tmp_path: Path, *statements: str, params: tuple = ()) -> Path:
    """A copy of the sound run file with `statements` applied to it."""
    path = tmp_path / "hostile.gflrun"
    path.write_bytes(run_file.read_bytes())
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        for statement in statements:
            con.execute(statement, params if "?" in statement else ())
    return path


def holding_two(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "mine.db")
    bare_run(store), bare_run(store)
    return store


def assert_intact(store: RunStore, extra: int = 0) -> None:
    assert store.integrity_check() == "ok"
    assert len(store.runs()) == 2 + extra and store.broken() == []


def test_a_sound_run_file_comes_in_whole(run_file: Path, tmp_path: Path) -> None:
    store = holding_two(tmp_path)
    imported = store.import_run(run_file)
    assert len(imported.ids) == 2 and not imported.refused
    assert_intact(store, extra=2)
    assert store.load_model(imported.ids[0]) is not None


@pytest.mark.parametrize(("make", "message"), [
    (lambda f, t: (t / "x.gflrun", (t / "x.gflrun").write_bytes(b"\x00garbage" * 100))[0], "not an SQLite file"),
    (lambda f, t: (t / "cut.gflrun", (t / "cut.gflrun").write_bytes(f.read_bytes()[: f.stat().st_size // 2]))[0],
     "is damaged|not a run file"),
    (lambda f, t: hostile(f, t, f"PRAGMA user_version = {SCHEMA_VERSION + 7}"), "newer version of the lab"),
    (lambda f, t: hostile(f, t, "DROP TABLE block_stats"), "block_stats is missing"),
    (lambda f, t: hostile(f, t, "ALTER TABLE metrics RENAME TO m", "CREATE VIEW metrics AS SELECT * FROM m"),
     "metrics is a view, not a table"),
    (lambda f, t: hostile(f, t, "ALTER TABLE layer_stats DROP COLUMN span"), "layer_stats table lacks span"),
], ids=["not-sqlite", "truncated", "newer", "missing-table", "view-for-table", "missing-column"])
def test_a_hostile_file_is_refused_whole_and_the_store_is_intact(run_file: Path, tmp_path: Path, make,
                                                                  message: str) -> None:
    store = holding_two(tmp_path)
    path = make(run_file, tmp_path)
    with pytest.raises(StoreError, match=message) as err:
        store.import_run(path)
    assert "\n" not in str(err.value) and path.name in str(err.value)
    assert_intact(store)


BAD_RUN = "UPDATE runs SET {} WHERE id = (SELECT MIN(id) FROM runs)"
BAD_ROWS = "UPDATE {} WHERE run = (SELECT MIN(id) FROM runs)"


@pytest.mark.parametrize(("statement", "field"), [
    (BAD_RUN.format("config = '{\"model\": {\"depth\": '"), "config: not valid JSON"),
    (BAD_RUN.format("config = '[' || replace(hex(zeroblob(5000)), '00', '[') || ']'"), "config: not valid JSON"),
    (BAD_RUN.format("config = json_set(config, '$.model.depth', 1000000000)"), "config: depth must be between"),
    (BAD_RUN.format("config = json_set(config, '$.model.width', -1)"), "config: width must be between"),
    (BAD_RUN.format("config = replace(config, '\"lr\": 0.1', '\"lr\": NaN')"), "config: lr must be a finite number"),
    (BAD_RUN.format("config = json_set(config, '$.model.depth', 'deep')"), "config: depth must be an integer"),
    (BAD_RUN.format("config = json_set(config, '$.evil', 1)"), "config: "),
    (BAD_RUN.format("steps = 'many'"), "steps: expected an integer"),
    (BAD_RUN.format("total_steps = 1000000000"), "total_steps: expected an integer from 1 to"),
    (BAD_RUN.format("started = 'yesterday'"), "started: expected a number"),
    (BAD_RUN.format("status = 'pwned'"), "status: expected one of"),
    (BAD_RUN.format("name = hex(zeroblob(5000))"), "name: expected text of at most"),
    (BAD_RUN.format("key = 'NOT-HEX'"), "key: expected 8 to 64 lower-case hex digits"),
    (BAD_RUN.format("blocks = '[\"a\", \"b\"]'"), "blocks: the names do not match"),
    (BAD_RUN.format("layers = '[]'"), "layers: the names do not match"),
    (BAD_RUN.format("sample_shape = '[1000000000]'"), "sample_shape: expected 1 to 3 positive sizes"),
    (BAD_RUN.format("sample_shape = '[2.5]'"), "sample_shape: expected"),
    (BAD_ROWS.format("metrics SET loss = 'x'"), "metrics.loss: expected a number"),
    (BAD_ROWS.format("metrics SET train_error = 7"), "metrics.train_error: expected a fraction"),
    (BAD_ROWS.format("block_stats SET mean = zeroblob(3)"), "block_stats: step 1 does not hold 12 float32"),
    (BAD_ROWS.format("layer_stats SET span = -4"), "layer_stats: step 1 or span -4 is out of range"),
    ("INSERT INTO events VALUES ((SELECT MIN(id) FROM runs), 1, 99, 1)", "events: (1, 99, 1) is not a shortcut"),
    ("INSERT INTO events VALUES ((SELECT MIN(id) FROM runs), 1, NULL, 'on')", "events: (1, None, 'on') is not"),
    (BAD_ROWS.format("weights SET state_dict = zeroblob(50000000)"), "weights: a blob of 50,000,000 bytes"),
    (BAD_ROWS.format("weights SET state_dict = 'text'"), "weights: a text of"),
    (BAD_ROWS.format("weights SET state_dict = zeroblob(100)"), "weights is not a valid checkpoint"),
])
def test_a_run_that_fails_a_check_is_refused_and_the_others_come_in(run_file: Path, tmp_path: Path,
                                                                     statement: str, field: str) -> None:
    store = holding_two(tmp_path)
    imported = store.import_run(hostile(run_file, tmp_path, statement))
    assert len(imported.ids) == 1 and len(imported.refused) == 1  # the file's sound run still comes in
    line = imported.refused[0]
    assert line.startswith("hostile.gflrun: run ") and field in line and "\n" not in line
    assert line in imported.summary(store.path)
    assert_intact(store, extra=1)


def test_weights_that_would_run_code_are_refused_without_running_it(run_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    buf = io.BytesIO()
    torch.save({"head.weight": Payload(marker)}, buf)
    store = holding_two(tmp_path)
    path = hostile(run_file, tmp_path, BAD_ROWS.format("weights SET state_dict = ?"), params=(buf.getvalue(),))
    imported = store.import_run(path)
    assert len(imported.refused) == 1 and "weights is not a valid checkpoint" in imported.refused[0]
    assert not marker.exists()
    assert_intact(store, extra=1)


def test_weights_of_another_shape_are_refused(run_file: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"head.weight": torch.zeros(3, 3)}, buf)
    store = holding_two(tmp_path)
    imported = store.import_run(hostile(run_file, tmp_path, BAD_ROWS.format("weights SET state_dict = ?"),
                                        params=(buf.getvalue(),)))
    assert "weights: the tensors do not match" in imported.refused[0]


def test_views_and_triggers_of_a_file_are_never_run(run_file: Path, tmp_path: Path) -> None:
    path = hostile(run_file, tmp_path,
                   "CREATE TABLE audit (x)",
                   "CREATE TRIGGER t AFTER INSERT ON runs BEGIN INSERT INTO audit VALUES (1); END",
                   "CREATE TRIGGER u AFTER UPDATE ON runs BEGIN DELETE FROM metrics; END",
                   "CREATE VIEW v AS SELECT * FROM runs")
    store = holding_two(tmp_path)
    imported = store.import_run(path)
    assert len(imported.ids) == 2 and not imported.refused
    with sqlite3.connect(store.path) as con:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert not {"audit", "t", "u", "v"} & names
    assert all(len(store.metrics(i).loss) > 0 for i in imported.ids)
    assert_intact(store, extra=2)


def test_an_older_file_with_triggers_is_migrated_on_a_copy_without_them(tmp_path: Path) -> None:
    old = v1_store(tmp_path / "old.gflrun")
    with contextlib.closing(sqlite3.connect(old, isolation_level=None)) as con:
        con.execute("CREATE TRIGGER t BEFORE DELETE ON runs BEGIN SELECT RAISE(ABORT, 'no'); END")
    before = old.read_bytes()
    store = holding_two(tmp_path)
    imported = store.import_run(old)
    assert len(imported.ids) == 2 and old.read_bytes() == before
    assert_intact(store, extra=2)
