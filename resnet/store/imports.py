"""Run files into the store: every run of another store or exported run file, copied under new ids."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from resnet.store.errors import StoreError, one_line
from resnet.store.schema import CHILD_TABLES, SCHEMA_VERSION, V1_RUN_COLUMNS, new_key

if TYPE_CHECKING:
    from resnet.store.store import RunStore


@dataclass(frozen=True)
class Imported:
    """What an import did: the new ids, and one line for each run it left out and why."""

    ids: list[int]
    skipped: list[str] = field(default_factory=list)  # runs already in the store (same key)

    def summary(self, store_path: Path) -> str:
        """One line for a front end: what came in, then what did not."""
        done = (f"imported {len(self.ids)} run(s) into {store_path}" +
                (f" as {', '.join(map(str, self.ids))}" if self.ids else ""))
        return "; ".join([done, *self.skipped])


def import_run(store: RunStore, path: str | os.PathLike) -> Imported:
    """Copy every run of a run file (or of another store) into `store`; runs it already holds are skipped."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no run file at {path}")
    if path.resolve() == store.path.resolve():
        raise StoreError(f"{path} is this store itself; import from another file")
    with tempfile.TemporaryDirectory() as tmp:
        return _import(store, path, Path(tmp))


def _import(store: RunStore, path: Path, tmp: Path) -> Imported:
    source = f"{path.resolve().as_uri()}?mode=ro"  # read-only: importing never changes the file
    try:
        with contextlib.closing(sqlite3.connect(source, uri=True)) as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            missing = (set(V1_RUN_COLUMNS) | {"id"}) - have
            if missing:
                raise StoreError(f"{path} is not a run file (no runs table with {', '.join(sorted(missing))})")
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path} was written by a newer version of the lab (schema {version}; this one "
                                 f"reads up to {SCHEMA_VERSION}); update the lab to import it")
            keyed = "key" in have
            runs = con.execute(f"SELECT id, {'key' if keyed else 'NULL'}, name FROM runs ORDER BY id").fetchall()
    except sqlite3.Error as err:
        raise StoreError(f"{path} is not a run file ({one_line(err)})") from None
    if version < SCHEMA_VERSION:  # an older run file: migrate a private copy, read that
        copy = tmp / "older.db"
        shutil.copyfile(path, copy)
        type(store)(copy)
        source = f"{copy.resolve().as_uri()}?mode=ro"
    ids, skipped = [], []
    with store._connect() as con:
        try:
            con.execute("ATTACH DATABASE ? AS src", (source,))
            con.execute("BEGIN IMMEDIATE")
            for old, key, name in runs:
                there = con.execute("SELECT id FROM main.runs WHERE key = ?", (key,)).fetchone()
                if there is not None:
                    skipped.append(f"run {old} ({name}) of {path.name} is already here as run {there[0]}; skipped")
                    continue
                ids.append(_copy(con, old, key or new_key()))
            con.execute("COMMIT")
            con.execute("DETACH DATABASE src")
        except sqlite3.Error as err:
            raise StoreError(f"cannot import {path}: {one_line(err)}") from None
    return Imported(ids, skipped)


def _copy(con: sqlite3.Connection, old: int, key: str) -> int:
    """Copy run `old` of the attached source (current schema) into main under a new id and `key`."""
    cols = ", ".join(V1_RUN_COLUMNS)
    # A run still recording when copied is not running in the copy.
    select = cols.replace("status", "CASE status WHEN 'running' THEN 'interrupted' ELSE status END")
    cur = con.execute(f"INSERT INTO main.runs (key, pair, {cols}) SELECT ?, pair, {select} FROM src.runs WHERE id = ?",
                      (key, old))
    new = int(cur.lastrowid)
    for table, tcols in CHILD_TABLES.items():
        names = ", ".join(tcols)
        con.execute(f"INSERT INTO main.{table} (run, {names}) SELECT ?, {names} FROM src.{table} WHERE run = ?",
                    (new, old))
    return new
