"""The schema: fresh stores at the current version, older stores migrated in place, newer ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from resnet.store import SCHEMA_VERSION, RunStore, StoreError
from tests.resnet.store.helpers import TINY, bare_run, v1_store


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("PRAGMA user_version").fetchone()[0]


def test_a_version_1_store_is_migrated_with_its_runs_and_ids(tmp_path: Path) -> None:
    path = v1_store(tmp_path / "old.db", runs=2)
    store = RunStore(path)
    assert user_version(path) == SCHEMA_VERSION and store.integrity_check() == "ok"
    old = store.runs()
    assert [r.name for r in old] == ["old-1", "old-0"] and [r.id for r in old] == [2, 1]
    keys = [r.key for r in old]
    assert len(set(keys)) == 2 and all(len(k) == 16 and int(k, 16) >= 0 for k in keys)
    assert all(r.pair is None and r.config == TINY for r in old)
    np.testing.assert_allclose(store.metrics(1).loss, [1.0, 0.5])
    assert store.history(1).grad_norm.shape == (2, 3)
    assert bare_run(store) == 4  # run 3 was deleted before the migration: its id stays unused
    assert [r.key for r in RunStore(path).runs()][1:] == keys  # reopening does not migrate again


def test_a_store_of_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    bare_run(RunStore(path))
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"newer version of the lab \\(schema {SCHEMA_VERSION + 1}; this one reads "
                                         f"up to {SCHEMA_VERSION}\\)"):
        RunStore(path)
    assert user_version(path) == SCHEMA_VERSION + 1


def test_a_runs_table_of_something_else_is_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, distance REAL)")
        con.execute("PRAGMA user_version = 1")
    with pytest.raises(StoreError, match="not a run store \\(its runs table lacks blocks, config"):
        RunStore(path)
    with sqlite3.connect(path) as con:
        assert [r[1] for r in con.execute("PRAGMA table_info(runs)")] == ["id", "distance"]


def test_every_run_gets_its_own_key_and_is_found_by_it() -> None:
    store = RunStore()
    a, b = bare_run(store), bare_run(store)
    ka, kb = store.run(a).key, store.run(b).key
    assert ka != kb and store.run_by_key(kb).id == b
    assert store.run(a).to_dict()["key"] == ka
    with pytest.raises(StoreError, match="no run with key 'feed'"):
        store.run_by_key("feed")


def test_a_pair_is_one_plain_and_one_residual_run() -> None:
    store = RunStore()
    residual = bare_run(store, pair="p1")
    with pytest.raises(StoreError, match="pair 'p1' .* has 1 run\\(s\\), not one plain and one residual"):
        store.pair("p1")
    plain = store.create_run(TINY.replace(residual=False), total_steps=5, blocks=["b"], layers=["l"],
                             sample_shape=(2,), num_classes=3, device="cpu", pair="p1")
    p, r = store.pair("p1")
    assert (p.id, r.id, p.pair, r.pair) == (plain, residual, "p1", "p1")
    with pytest.raises(StoreError, match="pair 'p2' .* has no run"):
        store.pair("p2")
