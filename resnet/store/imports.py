"""Run files into the store: every run of another store or exported run file, copied under new ids."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from resnet.store.errors import StoreError, one_line
from resnet.store.exports import copy_run
from resnet.store.schema import RUN_COLUMNS

if TYPE_CHECKING:
    from resnet.store.store import RunStore


def import_run(store: RunStore, path: str | os.PathLike) -> list[int]:
    """Copy every run of a run file (or of another store) into `store`; returns the new ids."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no run file at {path}")
    if path.resolve() == store.path.resolve():
        raise StoreError(f"{path} is this store itself; import from another file")
    source = f"{path.resolve().as_uri()}?mode=ro"  # read-only: importing never changes the file
    try:
        with contextlib.closing(sqlite3.connect(source, uri=True)) as con:
            have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            missing = (set(RUN_COLUMNS) | {"id"}) - have
            if missing:
                raise StoreError(f"{path} is not a run file (no runs table with {', '.join(sorted(missing))})")
            old_ids = [r[0] for r in con.execute("SELECT id FROM runs ORDER BY id")]
    except sqlite3.Error as err:
        raise StoreError(f"{path} is not a run file ({one_line(err)})") from None
    new_ids = []
    with store._connect() as con:
        try:
            con.execute("ATTACH DATABASE ? AS src", (source,))
            con.execute("BEGIN IMMEDIATE")
            new_ids = [copy_run(con, "src", "main", old, keep_id=False) for old in old_ids]
            con.execute("COMMIT")
            con.execute("DETACH DATABASE src")
        except sqlite3.Error as err:
            raise StoreError(f"cannot import {path}: {one_line(err)}") from None
    return new_ids
