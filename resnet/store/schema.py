"""The run store's SQL schema, its version, and the columns each table holds."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator

import numpy as np

from resnet.probes import STATS

# 1: first release; 2: runs gain a stable key and a pair key; 3: thinned probe rows; 4: analysis results
SCHEMA_VERSION = 4

STATUSES = ("running", "finished", "diverged", "interrupted", "stopped", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,            -- random hex, made once: the run's name across export and import
    pair TEXT,                           -- the twins of one live or analysis pair share this key
    name TEXT NOT NULL,
    sweep TEXT,                          -- runs started by one depth sweep share this tag
    config TEXT NOT NULL,                -- TrainConfig.to_dict() as JSON
    status TEXT NOT NULL,
    started REAL NOT NULL,               -- unix seconds
    ended REAL,
    steps INTEGER NOT NULL DEFAULT 0,    -- steps committed so far
    total_steps INTEGER NOT NULL,
    seconds REAL NOT NULL DEFAULT 0,     -- training time, without recording
    device TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    message TEXT NOT NULL DEFAULT '',
    blocks TEXT NOT NULL,                -- JSON list of block names, input to output
    layers TEXT NOT NULL,                -- JSON list of conv/linear layer names
    sample_shape TEXT NOT NULL,          -- JSON shape of one input sample, to rebuild the net
    num_classes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_pair ON runs (pair);
CREATE TABLE IF NOT EXISTS metrics (     -- step: iterations done (1-based), test_error may stand alone
    run INTEGER NOT NULL, step INTEGER NOT NULL,
    loss REAL, train_error REAL, test_error REAL,
    PRIMARY KEY (run, step)
) WITHOUT ROWID;
-- Probe rows, one a step: each covers `span` steps from `step` on, one (an exact row: min and max
-- NULL) or a thinned window of a long run (mean, min and max over the window). Values are
-- little-endian float32 blobs: block_stats (blocks, 4) in the probe's STATS order, layer_stats (layers,).
-- One blob a step, not a row a block: a ResNet-110 step is 2 rows instead of 164, a quarter of the
-- size, and a reader decodes it with one call instead of formatting every number.
CREATE TABLE IF NOT EXISTS block_stats (
    run INTEGER NOT NULL, step INTEGER NOT NULL, span INTEGER NOT NULL DEFAULT 1,
    mean BLOB NOT NULL, min BLOB, max BLOB,
    PRIMARY KEY (run, step)
);
CREATE TABLE IF NOT EXISTS layer_stats (
    run INTEGER NOT NULL, step INTEGER NOT NULL, span INTEGER NOT NULL DEFAULT 1,
    mean BLOB NOT NULL, min BLOB, max BLOB,
    PRIMARY KEY (run, step)
);
CREATE TABLE IF NOT EXISTS events (      -- shortcut switches; block NULL means every block
    run INTEGER NOT NULL, step INTEGER NOT NULL, block INTEGER, shortcut_on INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events (run);
CREATE TABLE IF NOT EXISTS responses (   -- Fig. 7: std of each layer's response after training
    run INTEGER NOT NULL, layer INTEGER NOT NULL, name TEXT NOT NULL, std REAL,
    PRIMARY KEY (run, layer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS weights (     -- torch.save(state_dict) bytes, read with weights_only=True
    run INTEGER PRIMARY KEY, step INTEGER NOT NULL, state_dict BLOB NOT NULL
);
-- Results of an analysis of a pair (a lesion study, ...), kept so a talk replays them without computing.
-- Keyed by what decides them: the pair's stable key, the kind and its settings; a pair's runs carry the
-- key across export and import, so a result recorded on one machine is found on another. A study that
-- trains its own nets (shattered gradients) has no pair: its pair is 'study', which no run holds.
CREATE TABLE IF NOT EXISTS analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pair TEXT NOT NULL,                  -- runs.pair of the twins it was computed on, or 'study'
    kind TEXT NOT NULL,                  -- one of resnet.analysis.records.RECORDED_KINDS
    params TEXT NOT NULL,                -- the analysis's settings as JSON with sorted keys
    result TEXT NOT NULL,                -- the JSON record of resnet.analysis.records
    created REAL NOT NULL,               -- unix seconds
    UNIQUE (pair, kind, params)
);
"""
ANALYSIS_COLUMNS = ("pair", "kind", "params", "result", "created")
RUN_COLUMNS = ("key", "pair", "name", "sweep", "config", "status", "started", "ended", "steps", "total_steps",
               "seconds", "device", "pid", "host", "message", "blocks", "layers", "sample_shape", "num_classes")
PROBE_COLUMNS = ("step", "span", "mean", "min", "max")
FLOAT32 = np.dtype("<f4")  # the probe blobs' numbers, whatever this machine's byte order
CHILD_TABLES = {
    "metrics": ("step", "loss", "train_error", "test_error"),
    "block_stats": PROBE_COLUMNS,
    "layer_stats": PROBE_COLUMNS,
    "events": ("step", "block", "shortcut_on"),
    "responses": ("layer", "name", "std"),
    "weights": ("step", "state_dict"),
}


V1_RUN_COLUMNS = RUN_COLUMNS[2:]


def new_key() -> str:
    """A fresh random key for a run or a pair (16 hex digits, as the migration makes them)."""
    return secrets.token_hex(8)


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, split where SQLite says one is complete (comments may hold ';')."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def runs_table() -> str:
    """The CREATE TABLE statement of the current runs table."""
    return next(s for s in statements(SCHEMA) if "TABLE IF NOT EXISTS runs " in s)


def _v1_to_v2(con: sqlite3.Connection) -> None:
    """Rebuild the runs table with a key for every run and an empty pair (ids and their sequence kept)."""
    if "key" in {row[1] for row in con.execute("PRAGMA table_info(runs)")}:
        return
    seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
    con.execute(runs_table().replace("runs (", "runs_v2 (", 1))
    cols = ", ".join(V1_RUN_COLUMNS)
    con.execute(f"INSERT INTO runs_v2 (id, key, pair, {cols}) SELECT id, lower(hex(randomblob(8))), NULL, {cols} "
                "FROM runs ORDER BY id")
    con.execute("DROP TABLE runs")
    con.execute("ALTER TABLE runs_v2 RENAME TO runs")
    if seq is not None:  # ids of deleted runs are never handed out again
        con.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'runs'", (seq[0],))


def _v2_to_v3(con: sqlite3.Connection) -> None:
    """Fold the probe tables' row a block (or layer) a step into one blob a step: every old row is exact."""
    for table, index, stats in (("block_stats", "block", STATS), ("layer_stats", "layer", ("grad_norm",))):
        have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        if not have or "mean" in have:  # absent (the schema creates it) or already folded
            continue
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_v2")
        con.execute(next(s for s in statements(SCHEMA) if f"TABLE IF NOT EXISTS {table} " in s))
        for (run,) in con.execute(f"SELECT DISTINCT run FROM {table}_v2").fetchall():
            rows = np.array(con.execute(f"SELECT step, {index}, {', '.join(stats)} FROM {table}_v2 WHERE run = ? "
                                        f"ORDER BY step, {index}", (run,)).fetchall(), np.float64)
            steps = np.unique(rows[:, 0].astype(np.int64))
            width = int(rows[:, 1].max()) + 1
            grid = np.full((len(steps), width, len(stats)), np.nan, FLOAT32)
            grid[np.searchsorted(steps, rows[:, 0]), rows[:, 1].astype(np.int64)] = rows[:, 2:]
            shape = (len(steps), width, len(stats)) if table == "block_stats" else (len(steps), width)
            con.executemany(f"INSERT INTO {table} (run, step, span, mean) VALUES (?, ?, 1, ?)",
                            [(run, int(s), g.tobytes()) for s, g in zip(steps, grid.reshape(shape), strict=True)])
        con.execute(f"DROP TABLE {table}_v2")


def _v3_to_v4(con: sqlite3.Connection) -> None:
    """Add the table of analysis results (every run is kept as it is)."""
    con.execute(next(s for s in statements(SCHEMA) if "TABLE IF NOT EXISTS analyses " in s))


# version -> the step that brings a store of that version to the next
MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def migrate(con: sqlite3.Connection, version: int) -> None:
    """Bring a store's tables from `version` to SCHEMA_VERSION, inside the caller's write transaction."""
    for v in range(version, SCHEMA_VERSION):
        MIGRATIONS[v](con)
