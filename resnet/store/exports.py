"""A run out of the store: full-resolution tables (CSV, Parquet) and run files that `import_run` reads
(with the analysis results kept for the run's pair)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from resnet.probes import STATS
from resnet.store.errors import StoreError, one_line
from resnet.store.schema import ANALYSIS_COLUMNS, CHILD_TABLES, FLOAT32, RUN_COLUMNS

if TYPE_CHECKING:
    from resnet.store.store import RunStore

TABLE_FORMATS = ("csv", "parquet")


def tables(store: RunStore, run_id: int) -> dict[str, pd.DataFrame]:
    """Every stored row of a run: "steps" (per-step metrics), "blocks", "layers" (a row covers `span`
    steps: one, or a thinned window with its means, minima and maxima), "events"."""
    info = store.run(run_id)
    with store._read() as con:
        steps = pd.read_sql_query("SELECT step, loss, train_error, test_error FROM metrics WHERE run = ? "
                                  "ORDER BY step", con, params=(run_id,))
        blocks = _probe_frame(con, "block_stats", run_id, "block", info.blocks, STATS)
        layers = _probe_frame(con, "layer_stats", run_id, "layer", info.layers, ("grad_norm",))
        events = pd.read_sql_query("SELECT step, block, shortcut_on FROM events WHERE run = ? ORDER BY rowid",
                                   con, params=(run_id,))
    return {"steps": steps, "blocks": blocks, "layers": layers, "events": events}


def _probe_frame(con: sqlite3.Connection, table: str, run_id: int, index: str, names: list[str],
                 stats: tuple[str, ...]) -> pd.DataFrame:
    """A probe table unfolded to a row per step and block (or layer): step, index, name, the stats, the
    span, then each stat's minimum and maximum over the span (an exact row's own value)."""
    rows = con.execute(f"SELECT step, span, mean, COALESCE(min, mean), COALESCE(max, mean) FROM {table} "
                       "WHERE run = ? ORDER BY step", (run_id,)).fetchall()
    width = len(names)

    def unfold(k: int) -> np.ndarray:  # (S * width, len(stats))
        return np.frombuffer(b"".join(r[k] for r in rows), FLOAT32).astype(np.float64).reshape(-1, len(stats))

    frame = pd.DataFrame({"step": np.repeat([r[0] for r in rows], width).astype(np.int64),
                          index: np.tile(np.arange(width), len(rows)),
                          "name": np.tile(np.array(names, dtype=object), len(rows))})
    mean, lo, hi = unfold(2), unfold(3), unfold(4)
    for k, stat in enumerate(stats):
        frame[stat] = mean[:, k]
    frame["span"] = np.repeat([r[1] for r in rows], width).astype(np.int64)
    for label, values in (("min", lo), ("max", hi)):
        for k, stat in enumerate(stats):
            frame[f"{stat}_{label}"] = values[:, k]
    return frame


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
    """Copy one run, id and key kept, and its pair's analysis results between attached databases, inside the
    caller's transaction."""
    cols = ", ".join(RUN_COLUMNS)
    # A run still recording when copied is not running in the copy.
    select = cols.replace("status", "CASE status WHEN 'running' THEN 'interrupted' ELSE status END")
    con.execute(f"INSERT INTO {dst}.runs (id, {cols}) SELECT id, {select} FROM {src}.runs WHERE id = ?", (run_id,))
    for table, tcols in CHILD_TABLES.items():
        names = ", ".join(tcols)
        con.execute(f"INSERT INTO {dst}.{table} (run, {names}) SELECT run, {names} FROM {src}.{table} "
                    "WHERE run = ?", (run_id,))
    analysis = ", ".join(ANALYSIS_COLUMNS)
    con.execute(f"INSERT OR IGNORE INTO {dst}.analyses ({analysis}) SELECT {analysis} FROM {src}.analyses "
                f"WHERE pair = (SELECT pair FROM {src}.runs WHERE id = ?)", (run_id,))
