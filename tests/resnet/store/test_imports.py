"""Imports: run files from elsewhere, and files that are not run files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from resnet.store import RunStore, StoreError


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
