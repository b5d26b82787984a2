"""A run out of the store: full-resolution tables (CSV, Parquet) and run files that `import_run` reads."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from resnet.probes import STATS
from resnet.store.errors import StoreError, one_line
from resnet.store.schema import CHILD_TABLES, RUN_COLUMNS

if TYPE_CHECKING:
    from resnet.store.store import RunStore

TABLE_FORMATS = ("csv", "parquet")


def tables(store: RunStore, run_id: int) -> dict[str, pd.DataFrame]:
    """Full-resolution tables of a run: "steps" (per-step metrics), "blocks", "layers", "events"."""
    info = store.run(run_id)
    with store._read() as con:
        steps = pd.read_sql_query("SELECT step, loss, train_error, test_error FROM metrics WHERE run = ? "
                                  "ORDER BY step", con, params=(run_id,))
        blocks = pd.read_sql_query(f"SELECT step, block, {', '.join(STATS)} FROM block_stats "
                                   "WHERE run = ? ORDER BY step, block", con, params=(run_id,))
        layers = pd.read_sql_query("SELECT step, layer, grad_norm FROM layer_stats WHERE run = ? "
                                   "ORDER BY step, layer", con, params=(run_id,))
        events = pd.read_sql_query("SELECT step, block, shortcut_on FROM events WHERE run = ? ORDER BY rowid",
                                   con, params=(run_id,))
    blocks.insert(2, "name", pd.Series(info.blocks, dtype=object).reindex(blocks["block"]).to_numpy())
    layers.insert(2, "name", pd.Series(info.layers, dtype=object).reindex(layers["layer"]).to_numpy())
    return {"steps": steps, "blocks": blocks, "layers": layers, "events": events}


def export_tables(store: RunStore, run_id: int, folder: str | os.PathLike, fmt: str = "csv") -> list[Path]:
    """Write the run's tables as run-ID-TABLE.csv or .parquet into `folder`; returns the files."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose one of: {', '.join(TABLE_FORMATS)}")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in tables(store, run_id).items():
            path = folder / f"run-{run_id}-{name}.{fmt}"
            frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
            paths.append(path)
    except OSError as err:
        raise StoreError(f"cannot write to {folder}: {one_line(err)}") from None
    return paths


def export_run(store: RunStore, run_id: int, path: str | os.PathLike) -> Path:
    """Write one run, everything included, as a run file (a one-run store) that `import_run` reads."""
    store.run(run_id)
    path = Path(path)
    if path.exists():
        raise StoreError(f"{path} already exists; choose a new file name")
    target = type(store)(path)
    with store._connect() as con:
        try:
            con.execute("ATTACH DATABASE ? AS dst", (target.path.resolve().as_uri(),))
            con.execute("BEGIN IMMEDIATE")
            copy_run(con, "main", "dst", run_id)
            con.execute("COMMIT")
            con.execute("DETACH DATABASE dst")
        except sqlite3.Error as err:
            raise store._error(err) from None
    with target._connect() as con:
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    return path


def copy_run(con: sqlite3.Connection, src: str, dst: str, run_id: int) -> None:
    """Copy one run, id and key kept, between attached databases inside the caller's transaction."""
    cols = ", ".join(RUN_COLUMNS)
    # A run still recording when copied is not running in the copy.
    select = cols.replace("status", "CASE status WHEN 'running' THEN 'interrupted' ELSE status END")
    con.execute(f"INSERT INTO {dst}.runs (id, {cols}) SELECT id, {select} FROM {src}.runs WHERE id = ?", (run_id,))
    for table, tcols in CHILD_TABLES.items():
        names = ", ".join(tcols)
        con.execute(f"INSERT INTO {dst}.{table} (run, {names}) SELECT run, {names} FROM {src}.{table} "
                    "WHERE run = ?", (run_id,))
