"""What the store tests share: a tiny config, recorded runs, fake probe rows, a hostile pickle."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from resnet.probes import ProbeHistory
from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[3]
TINY = TrainConfig(model=ModelSpec(family="mlp", depth=3, width=8, act="tanh", norm="none"), dataset="spirals",
                   test_every=5)


def tiny_trainer(steps: int = 23, **changes) -> Trainer:
    return Trainer(TINY.replace(**changes), total_steps=steps)


def recorded(store: RunStore, steps: int = 23, **changes) -> tuple[int, Trainer]:
    trainer = tiny_trainer(steps, **changes)
    run_id = record(store, trainer, flush_every=5)
    trainer.close()
    return run_id, trainer


def fake_history(steps: np.ndarray, blocks: int = 3, layers: int = 5) -> ProbeHistory:
    s = len(steps)
    grid = np.arange(s * blocks, dtype=np.float32).reshape(s, blocks) + 1
    return ProbeHistory(names=[f"block{i}" for i in range(blocks)], layer_names=[f"l{i}" for i in range(layers)],
                        steps=np.asarray(steps, np.int64), grad_norm=grid, input_grad_norm=2 * grid,
                        act_mean=-grid, act_std=grid / 10,
                        layer_grad_norm=np.arange(s * layers, dtype=np.float32).reshape(s, layers))


LAYERS = ["stem.1", "blocks.0.fc", "blocks.1.fc", "blocks.2.fc", "head"]  # TINY's, as a run file must name them


def bare_run(store: RunStore, total: int = 10, config: TrainConfig = TINY, **fields) -> int:
    return store.create_run(config, total_steps=total, blocks=["block0", "block1", "block2"], layers=LAYERS,
                            sample_shape=(2,), num_classes=3, device="cpu", **fields)


class Payload:
    """An object whose unpickling would run a command: weights_only must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# The schema of version 1 stores, as they were written before runs had keys.
V1_SCHEMA = """
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


def v1_store(path: Path, runs: int = 2) -> Path:
    """A version 1 store of `runs` bare runs with a few rows each, its last run deleted (ids are not reused)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:  # autocommit
        con.executescript(V1_SCHEMA)
        for i in range(runs + 1):
            cur = con.execute(
                "INSERT INTO runs (name, sweep, config, status, started, steps, total_steps, device, blocks, layers, "
                "sample_shape, num_classes) VALUES (?, NULL, ?, 'finished', 1.0, 2, 2, 'cpu', ?, ?, '[2]', 3)",
                (f"old-{i}", json.dumps(TINY.to_dict()), json.dumps(["block0", "block1", "block2"]),
                 json.dumps(LAYERS)))
            for step in (1, 2):
                con.execute("INSERT INTO metrics VALUES (?, ?, ?, 0.5, NULL)", (cur.lastrowid, step, 1.0 / step))
                con.executemany("INSERT INTO block_stats VALUES (?, ?, ?, 1, 2, 3, 4)",
                                [(cur.lastrowid, step, b) for b in range(3)])
                con.executemany("INSERT INTO layer_stats VALUES (?, ?, ?, 5)",
                                [(cur.lastrowid, step, k) for k in range(5)])
        con.execute("DELETE FROM runs WHERE id = ?", (cur.lastrowid,))
        con.execute("DELETE FROM metrics WHERE run = ?", (cur.lastrowid,))
        con.execute("DELETE FROM block_stats WHERE run = ?", (cur.lastrowid,))
        con.execute("DELETE FROM layer_stats WHERE run = ?", (cur.lastrowid,))
        con.execute("PRAGMA user_version = 1")
    return path
