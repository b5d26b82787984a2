"""Imports: run files from elsewhere, and files that are not run files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from resnet.store import SCHEMA_VERSION, RunStore, StoreError
from tests.resnet.store.helpers import bare_run, v1_store


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
