"""The run store's SQL schema, its version, and the columns each table holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from resnet.probes import STATS

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE TABLE IF NOT EXISTS metrics (     -- step: iterations done (1-based), test_error may stand alone
    run INTEGER NOT NULL, step INTEGER NOT NULL,
    loss REAL, train_error REAL, test_error REAL,
    PRIMARY KEY (run, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS block_stats (
    run INTEGER NOT NULL, step INTEGER NOT NULL, block INTEGER NOT NULL,
    grad_norm REAL, input_grad_norm REAL, act_mean REAL, act_std REAL,
    PRIMARY KEY (run, step, block)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS layer_stats (
    run INTEGER NOT NULL, step INTEGER NOT NULL, layer INTEGER NOT NULL, grad_norm REAL,
    PRIMARY KEY (run, step, layer)
) WITHOUT ROWID;
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
"""
RUN_COLUMNS = ("name", "sweep", "config", "status", "started", "ended", "steps", "total_steps", "seconds",
               "device", "pid", "host", "message", "blocks", "layers", "sample_shape", "num_classes")
CHILD_TABLES = {
    "metrics": ("step", "loss", "train_error", "test_error"),
    "block_stats": ("step", "block", *STATS),
    "layer_stats": ("step", "layer", "grad_norm"),
    "events": ("step", "block", "shortcut_on"),
    "responses": ("layer", "name", "std"),
    "weights": ("step", "state_dict"),
}


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, split where SQLite says one is complete (comments may hold ';')."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
