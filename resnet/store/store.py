"""The run store: every run's config, curves, probe statistics and final weights in one SQLite file.

WAL mode lets readers (the app) read while writers (training threads and processes) commit;
writers take the write lock up front (BEGIN IMMEDIATE) and wait for it (busy_timeout), so two
processes recording into one store never fail with "database is locked". A recorder commits a
batch of steps at a time: a killed process loses at most its last uncommitted batch, and the
file stays consistent. Readers downsample in SQL so a 64k-step run draws from ~1,000 points.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from resnet.analysis.results import Analysis, ShatteredResult
from resnet.checks import int_in
from resnet.nets import ResidualNet
from resnet.probes import STATS, ProbeHistory
from resnet.settings import read_only_reason
from resnet.store import analyses, exports, imports
from resnet.store.errors import StoreError, one_line
from resnet.store.schema import (
    CHILD_TABLES,
    FLOAT32,
    RUN_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    V1_RUN_COLUMNS,
    migrate,
    new_key,
    statements,
)
from resnet.store.thinning import ProbeRows
from resnet.store.weights import build_net, read_state_dict, state_dict_bytes
from resnet.trainer import TrainConfig

BLOCK_STATS = STATS  # the probe's row layout, one column each in block_stats
MAX_POINTS = 1000  # points per series a reader gets back; enough for any screen
BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another writer's batch before giving up
ROOT = Path(__file__).resolve().parents[2]


def default_store_path() -> Path:
    """$GFL_STORE, else runs/runs.db under the project."""
    return Path(os.environ.get("GFL_STORE") or ROOT / "runs" / "runs.db")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs table, with a dead writer's "running" read as "interrupted"."""

    id: int
    key: str  # stable across export and import, unlike the id
    pair: str | None  # shared by the twins of one pair
    name: str
    sweep: str | None
    config: TrainConfig
    status: str
    started: float
    ended: float | None
    steps: int
    total_steps: int
    seconds: float
    device: str
    pid: int | None
    host: str | None
    message: str
    blocks: list[str]
    layers: list[str]
    sample_shape: tuple[int, ...]
    num_classes: int

    @property
    def label(self) -> str:
        """"plain-56", "res-20", ..."""
        return self.config.model.label

    @property
    def depth(self) -> int:
        """The net's depth."""
        return self.config.model.depth

    @property
    def residual(self) -> bool:
        """Whether the net has shortcuts."""
        return self.config.model.residual

    def to_dict(self) -> dict:
        """Plain JSON-able form (the config as a dict)."""
        return {"id": self.id, "key": self.key, "pair": self.pair, "name": self.name, "sweep": self.sweep,
                "status": self.status, "started": self.started, "ended": self.ended, "steps": self.steps,
                "total_steps": self.total_steps, "seconds": self.seconds, "device": self.device,
                "pid": self.pid, "host": self.host, "message": self.message, "blocks": self.blocks,
                "config": self.config.to_dict()}


@dataclass(frozen=True)
class Metrics:
    """Per-step curves of one run, downsampled: bucket means of loss and batch training error."""

    steps: np.ndarray  # (S,) mean step of each bucket
    loss: np.ndarray  # (S,)
    train_error: np.ndarray  # (S,) training error of the batches in the bucket
    test_steps: np.ndarray  # (T,) steps at which the test set was scored
    test_error: np.ndarray  # (T,)
    stride: int  # steps per bucket (1: every step)


@dataclass(frozen=True)
class Summary:
    """The numbers a sweep reports for one run."""

    train_error: float  # mean batch training error over the last 10% of steps
    test_error: float | None  # the last test-set score
    final_loss: float | None


@dataclass(frozen=True)
class RunSnapshot:
    """A run as the views draw it: its row, downsampled curves and probe statistics, its events."""

    info: RunInfo
    metrics: Metrics
    history: ProbeHistory
    events: list[tuple[int, int | None, bool]]
    thinned_after: int | None = None  # the last exact step of a thinned run: its rows after are window means


def float_array(values, dtype=np.float32) -> np.ndarray:
    """An array of SQL values, NULL read as NaN."""
    return np.array([math.nan if v is None else v for v in values], dtype=dtype)


def _use_wal(con: sqlite3.Connection) -> None:
    """Put the file in WAL mode (persistent: once per file), waiting out another process doing the same.

    Switching needs the file to itself, and SQLite answers a busy switch at once, without its busy
    handler: with the old mode returned, or "database is locked". Two processes opening a fresh
    store together would otherwise see one of them fail.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0].lower()
            if mode == "wal" or con.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked: could not switch it to WAL mode")
        time.sleep(0.02)


REDUCES = ("mean", "min", "max")


def _insert_rows(con: sqlite3.Connection, run_id: int, rows: ProbeRows) -> None:
    """Write probe rows as blobs, replacing any at the same steps; an exact row has no min and max."""
    steps, spans = rows.steps.tolist(), rows.spans.tolist()
    for table, mean, lo, hi in (("block_stats", rows.block_mean, rows.block_min, rows.block_max),
                                ("layer_stats", rows.layer_mean, rows.layer_min, rows.layer_max)):
        mean, lo, hi = (np.ascontiguousarray(a, FLOAT32) for a in (mean, lo, hi))
        con.executemany(f"INSERT OR REPLACE INTO {table} (run, step, span, mean, min, max) VALUES (?, ?, ?, ?, ?, ?)",
                        [(run_id, step, span, mean[i].tobytes(), *((None, None) if span == 1 else
                                                                    (lo[i].tobytes(), hi[i].tobytes())))
                         for i, (step, span) in enumerate(zip(steps, spans, strict=True))])


def _rows_at(con: sqlite3.Connection, table: str, reduce: str, run_id: int, steps_json: str,
             shape: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
    """A probe table's rows at the given steps: (steps, values shaped (S, *shape), float32).

    `reduce` picks a window's mean, min or max; an exact row has one value for all three.
    """
    column = "mean" if reduce == "mean" else f"COALESCE({reduce}, mean)"
    rows = con.execute(f"SELECT step, {column} FROM {table} WHERE run = ? AND step IN "
                       "(SELECT value FROM json_each(?)) ORDER BY step", (run_id, steps_json)).fetchall()
    size = int(np.prod(shape)) * FLOAT32.itemsize
    if any(len(r[1]) != size for r in rows):
        raise StoreError(f"run {run_id}: {table} rows do not hold {shape} numbers a step")
    values = np.frombuffer(b"".join(r[1] for r in rows), FLOAT32).reshape(len(rows), *shape)
    return [r[0] for r in rows], values.astype(np.float32)


def refuse_if_read_only(action: str) -> None:
    """A StoreError saying why, where this server is read-only ($GFL_READ_ONLY=1)."""
    reason = read_only_reason(action)
    if reason is not None:
        raise StoreError(reason)


class RunStore:
    """One SQLite file of runs; safe for several threads and processes at once."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        if self.path.is_dir():
            raise StoreError(f"run store {self.path} is a folder; give a file path such as runs/runs.db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the run store's folder {self.path.parent}: {one_line(err)}") from None
        with self._connect() as con:
            try:
                _use_wal(con)
                current = con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            except sqlite3.Error as err:
                raise self._error(err) from None
        if not current:  # opening a current store is a read; pages open one on every rerun
            self._ensure_schema()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def _error(self, err: BaseException) -> StoreError:
        reason = one_line(err)
        if "not a database" in reason or "malformed" in reason:
            return StoreError(f"run store {self.path} is not a valid run store ({reason}); "
                              "move it away or choose another path")
        if "unable to open" in reason or "readonly" in reason or "read-only" in reason:
            return StoreError(f"cannot write the run store {self.path} ({reason}); choose a writable path")
        return StoreError(f"run store {self.path}: {reason}")

    def _open(self) -> sqlite3.Connection:
        try:
            # URI filenames on, so a run file can be attached read-only ("?mode=ro") for import.
            con = sqlite3.connect(self.path.resolve().as_uri(), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                  check_same_thread=False, uri=True)
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # WAL with synchronous=NORMAL survives a killed process; only a power cut may lose a batch.
            con.execute("PRAGMA synchronous = NORMAL")
            # Functions in a schema's views, triggers and defaults are never run with this process's rights.
            con.execute("PRAGMA trusted_schema = OFF")
        except sqlite3.Error as err:
            raise self._error(err) from None
        return con

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its start (no lock upgrade, no deadlock)."""
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except sqlite3.Error as err:
                raise self._error(err) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot, never blocking writers (WAL)."""
        with self._connect() as con:
            try:
                con.execute("BEGIN")
                yield con
                con.execute("COMMIT")
            except sqlite3.Error as err:
                raise self._error(err) from None

    def _ensure_schema(self) -> None:
        """Create the tables of a new store, or migrate an older one; a newer one is refused untouched."""
        with self._write() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"run store {self.path} was written by a newer version of the lab (schema "
                                 f"{version}; this one reads up to {SCHEMA_VERSION}); update, or choose another path")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "runs" not in tables:
                raise StoreError(f"{self.path} is an SQLite database of something else, not a run store; "
                                 "choose another path")
            if "runs" in tables:
                version = max(version, 1)
                need = set(V1_RUN_COLUMNS if version == 1 else RUN_COLUMNS)
                have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
                if not need <= have:
                    raise StoreError(f"{self.path} is an SQLite file but not a run store (its runs table lacks "
                                     f"{', '.join(sorted(need - have))})")
                migrate(con, version)
            for statement in statements(SCHEMA):
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # Writing.

    def create_run(self, config: TrainConfig, *, total_steps: int, blocks: list[str], layers: list[str],
                   sample_shape: tuple[int, ...], num_classes: int, device: str, name: str | None = None,
                   sweep: str | None = None, pair: str | None = None) -> int:
        """Add a run in status "running", owned by this process; returns its id.

        `pair`: a key the twins of one pair share (`new_key()`), so the pair reopens as one.
        """
        int_in("steps", total_steps, 1, 10**9)
        row = {"key": new_key(), "pair": pair, "name": name or config.model.label, "sweep": sweep,
               "config": json.dumps(config.to_dict()),
               "status": "running", "started": time.time(), "ended": None, "steps": 0,
               "total_steps": total_steps, "seconds": 0.0, "device": device, "pid": os.getpid(),
               "host": socket.gethostname(), "message": "", "blocks": json.dumps(list(blocks)),
               "layers": json.dumps(list(layers)), "sample_shape": json.dumps(list(sample_shape)),
               "num_classes": num_classes}
        with self._write() as con:
            cur = con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
                              f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})", [row[c] for c in RUN_COLUMNS])
            return int(cur.lastrowid)

    def append(self, run_id: int, *, first_step: int = 1, loss=(), train_error=(),
               tests: list[tuple[int, float]] = (), history: ProbeHistory | None = None,
               rows: ProbeRows | None = None, events: list[tuple[int, int | None, bool]] = ()) -> None:
        """Commit one batch: per-step loss/error from `first_step` on, test scores, probe rows, events.

        Probe rows come as a `history` (one exact row a step) or as `rows` from a Thinner; a row at a
        step already stored replaces it (a window that grew since the last batch).
        """
        metric_rows = [(run_id, first_step + i, float(a), float(b)) for i, (a, b) in enumerate(zip(loss, train_error,
                                                                                                  strict=True))]
        with self._write() as con:
            con.executemany(
                "INSERT INTO metrics (run, step, loss, train_error) VALUES (?, ?, ?, ?) ON CONFLICT (run, step) "
                "DO UPDATE SET loss = excluded.loss, train_error = excluded.train_error", metric_rows)
            con.executemany(
                "INSERT INTO metrics (run, step, test_error) VALUES (?, ?, ?) ON CONFLICT (run, step) "
                "DO UPDATE SET test_error = excluded.test_error",
                [(run_id, int(s), float(e)) for s, e in tests])
            if rows is None and history is not None:
                rows = ProbeRows.exact(history)
            if rows is not None and len(rows):
                _insert_rows(con, run_id, rows)
            con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                            [(run_id, int(s), b, int(on)) for s, b, on in events])
            if metric_rows:
                con.execute("UPDATE runs SET steps = MAX(steps, ?) WHERE id = ?", (metric_rows[-1][1], run_id))

    def finish(self, run_id: int, status: str, *, seconds: float, message: str = "") -> None:
        """Close a run with its final status."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"unknown final status {status!r}; choose one of: "
                             f"{', '.join(s for s in STATUSES if s != 'running')}")
        with self._write() as con:
            con.execute("UPDATE runs SET status = ?, ended = ?, seconds = ?, message = ? WHERE id = ?",
                        (status, time.time(), seconds, message, run_id))

    def save_weights(self, run_id: int, state_dict: dict[str, torch.Tensor], *, step: int) -> None:
        """Keep a run's weights (tensors only: they load back with weights_only=True)."""
        blob = state_dict_bytes(state_dict)
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", (run_id, step, blob))

    def save_responses(self, run_id: int, names: list[str], stds) -> None:
        """Keep the std of each layer's response (Fig. 7), in layer order."""
        with self._write() as con:
            con.execute("DELETE FROM responses WHERE run = ?", (run_id,))
            con.executemany("INSERT INTO responses VALUES (?, ?, ?, ?)",
                            [(run_id, k, n, float(s)) for k, (n, s) in enumerate(zip(names, stds, strict=True))])

    def save_analysis(self, pair: str, kind: str, params: dict, analysis: Analysis | ShatteredResult) -> None:
        """Keep an analysis result of the pair with key `pair`, or a study's under STUDY_KEY
        (see resnet/store/analyses.py)."""
        analyses.save_analysis(self, pair, kind, params, analysis)

    def analysis(self, pair: str, kind: str, params: dict) -> Analysis | ShatteredResult | None:
        """The result kept for pair `pair` (or STUDY_KEY), `kind` and `params`, None if there is none."""
        return analyses.read_analysis(self, pair, kind, params)

    def delete(self, run_id: int) -> None:
        """Remove a run and everything recorded for it (a broken one too).

        Refused for a run still being recorded on this machine, and on a read-only server.
        """
        refuse_if_read_only("delete runs")
        with self._read() as con:
            row = con.execute("SELECT name, status, host, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            self.run(run_id)  # the error that names where the runs are
        name, status, host, pid = row
        if status == "running" and host == socket.gethostname() and pid and pid_alive(pid):  # its writer is alive
            raise StoreError(f"run {run_id} ({name}) is still being recorded by process {pid}; "
                             "stop or pause its training first, then delete it")
        with self._write() as con:
            for table in CHILD_TABLES:
                con.execute(f"DELETE FROM {table} WHERE run = ?", (run_id,))
            # A pair's results go with either twin: they describe both.
            con.execute("DELETE FROM analyses WHERE pair = (SELECT pair FROM runs WHERE id = ?)", (run_id,))
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # Reading.

    def _info(self, row: sqlite3.Row) -> RunInfo:
        d = dict(row)
        status = d["status"]
        if status == "running" and d["host"] == socket.gethostname() and d["pid"] and not pid_alive(d["pid"]):
            status = "interrupted"
        try:
            config = TrainConfig.from_dict(json.loads(d["config"]))
            blocks, layers = json.loads(d["blocks"]), json.loads(d["layers"])
            sample_shape = tuple(json.loads(d["sample_shape"]))
        except (TypeError, ValueError, RecursionError) as err:
            raise StoreError(f"run {d['id']} has a config this version cannot read ({one_line(err)})") from None
        return RunInfo(id=d["id"], key=d["key"], pair=d["pair"], name=d["name"], sweep=d["sweep"], config=config,
                       status=status,
                       started=d["started"], ended=d["ended"], steps=d["steps"], total_steps=d["total_steps"],
                       seconds=d["seconds"], device=d["device"], pid=d["pid"], host=d["host"],
                       message=d["message"], blocks=blocks, layers=layers, sample_shape=sample_shape,
                       num_classes=d["num_classes"])

    def runs(self, *, sweep: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first (only those of `sweep` if given); a broken run is left out (see `broken`)."""
        query = "SELECT * FROM runs" + (" WHERE sweep = ?" if sweep is not None else "") + " ORDER BY id DESC"
        args: list = [sweep] if sweep is not None else []
        if limit is not None:
            query += " LIMIT ?"
            args.append(int_in("limit", limit, 1, 10**9))
        with self._read() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(query, args).fetchall()
        infos = []
        for r in rows:
            with contextlib.suppress(StoreError):  # one broken row never hides the others
                infos.append(self._info(r))
        return infos

    def broken(self) -> list[tuple[int, str, str]]:
        """(id, name, why) of every run this version cannot read; `delete` still removes them."""
        with self._read() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM runs ORDER BY id DESC").fetchall()
        out = []
        for r in rows:
            try:
                self._info(r)
            except StoreError as err:
                out.append((r["id"], str(r["name"]), str(err)))
        return out

    def run(self, run_id: int) -> RunInfo:
        """One run, or a StoreError naming the runs there are."""
        with self._read() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in {self.path} (`python -m resnet runs list` shows the runs)")
        return self._info(row)

    def run_by_key(self, key: str) -> RunInfo:
        """The run with this stable key, or a StoreError."""
        with self._read() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"no run with key {key!r} in {self.path} (`python -m resnet runs list --json` shows "
                             "each run's key)")
        return self._info(row)

    def pair(self, key: str) -> tuple[RunInfo, RunInfo]:
        """The twins sharing pair key `key`: (plain, residual)."""
        with self._read() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM runs WHERE pair = ? ORDER BY id", (key,)).fetchall()
        twins = {info.residual: info for info in map(self._info, rows)}
        if len(rows) != 2 or len(twins) != 2:
            found = "no run" if not rows else f"{len(rows)} run(s), not one plain and one residual"
            raise StoreError(f"pair {key!r} in {self.path} has {found}")
        return twins[False], twins[True]

    def sweeps(self) -> list[tuple[str, float, int]]:
        """(tag, started, number of runs) of every sweep, newest first."""
        with self._read() as con:
            return [tuple(r) for r in con.execute(
                "SELECT sweep, MIN(started), COUNT(*) FROM runs WHERE sweep IS NOT NULL "
                "GROUP BY sweep ORDER BY MAX(id) DESC")]

    def metrics(self, run_id: int, *, max_points: int = MAX_POINTS) -> Metrics:
        """Loss and error curves, averaged in SQL over buckets of steps so at most `max_points` remain."""
        int_in("max_points", max_points, 2, 10**7)
        with self._read() as con:
            n, = con.execute("SELECT COUNT(*) FROM metrics WHERE run = ? AND loss IS NOT NULL", (run_id,)).fetchone()
            stride = max(1, math.ceil(n / max_points))
            rows = con.execute(
                "SELECT AVG(step), AVG(loss), AVG(train_error) FROM metrics WHERE run = ? AND loss IS NOT NULL "
                "GROUP BY (step - 1) / ? ORDER BY 1", (run_id, stride)).fetchall()
            t, = con.execute("SELECT COUNT(*) FROM metrics WHERE run = ? AND test_error IS NOT NULL",
                             (run_id,)).fetchone()
            test_stride = max(1, math.ceil(t / max_points))
            tests = con.execute(
                "SELECT step, test_error FROM (SELECT step, test_error, ROW_NUMBER() OVER (ORDER BY step) AS k "
                "FROM metrics WHERE run = ? AND test_error IS NOT NULL) WHERE (k - 1) % ? = 0 OR k = ? ORDER BY step",
                (run_id, test_stride, t)).fetchall()
        return Metrics(steps=float_array([r[0] for r in rows], np.float64), loss=float_array([r[1] for r in rows]),
                       train_error=float_array([r[2] for r in rows]),
                       test_steps=np.array([r[0] for r in tests], np.int64),
                       test_error=float_array([r[1] for r in tests]), stride=stride)

    def history(self, run_id: int, *, max_points: int = MAX_POINTS, upto: int | None = None,
                reduce: str = "mean") -> ProbeHistory:
        """Probe statistics per block and per layer at up to `max_points` rows (first and last included).

        Rows are samples of what was stored, not averages of them: an exact step's values, or a
        thinned window's `reduce` ("mean", "min" or "max"), at the window's first step.
        """
        int_in("max_points", max_points, 2, 10**7)
        if reduce not in REDUCES:
            raise ValueError(f"unknown reduce {reduce!r}; choose one of: {', '.join(REDUCES)}")
        info = self.run(run_id)
        with self._read() as con:
            limit = upto if upto is not None else 2**62
            stored = [r[0] for r in con.execute("SELECT step FROM block_stats WHERE run = ? AND step <= ? "
                                                "ORDER BY step", (run_id, limit))]
            stride = max(1, math.ceil(len(stored) / max_points))
            chosen = json.dumps(stored[::stride] + stored[-1:] * ((len(stored) - 1) % stride != 0))
            block_steps, block_arr = _rows_at(con, "block_stats", reduce, run_id, chosen,
                                              (len(info.blocks), len(BLOCK_STATS)))
            layer_steps, layer_arr = _rows_at(con, "layer_stats", reduce, run_id, chosen, (len(info.layers),))
        if block_steps != layer_steps:  # a batch is committed whole; be explicit all the same
            raise StoreError(f"run {run_id}: block and layer statistics disagree on their steps")
        steps = np.array(block_steps, np.int64)
        return ProbeHistory(names=list(info.blocks), layer_names=list(info.layers), steps=steps,
                            grad_norm=block_arr[:, :, 0], input_grad_norm=block_arr[:, :, 1],
                            act_mean=block_arr[:, :, 2], act_std=block_arr[:, :, 3], layer_grad_norm=layer_arr)

    def snapshot(self, run_id: int, *, max_points: int = MAX_POINTS) -> RunSnapshot:
        """Everything needed to draw or replay a run, downsampled to `max_points` a series."""
        return RunSnapshot(self.run(run_id), self.metrics(run_id, max_points=max_points),
                           self.history(run_id, max_points=max_points), self.events(run_id),
                           self.thinned_after(run_id))

    def thinned_after(self, run_id: int) -> int | None:
        """The last step stored exactly before the run's probe rows become windows; None if never thinned."""
        with self._read() as con:
            first, = con.execute("SELECT MIN(step) FROM block_stats WHERE run = ? AND span > 1",
                                 (run_id,)).fetchone()
        return None if first is None else first - 1

    def events(self, run_id: int) -> list[tuple[int, int | None, bool]]:
        """Shortcut switches: (step, block or None for all, on)."""
        with self._read() as con:
            rows = con.execute("SELECT step, block, shortcut_on FROM events WHERE run = ? ORDER BY rowid",
                               (run_id,)).fetchall()
        return [(s, b, bool(on)) for s, b, on in rows]

    def responses(self, run_id: int) -> tuple[list[str], np.ndarray] | None:
        """Names and stds of each layer's response (Fig. 7), or None if none were measured."""
        with self._read() as con:
            rows = con.execute("SELECT name, std FROM responses WHERE run = ? ORDER BY layer", (run_id,)).fetchall()
        if not rows:
            return None
        return [r[0] for r in rows], float_array([r[1] for r in rows])

    def summary(self, run_id: int) -> Summary:
        """Training error over the last 10% of steps, the last test error and the last loss."""
        info = self.run(run_id)
        tail = max(1, info.steps // 10)
        with self._read() as con:
            train_error, = con.execute(
                "SELECT AVG(train_error) FROM metrics WHERE run = ? AND loss IS NOT NULL AND step > ?",
                (run_id, info.steps - tail)).fetchone()
            test = con.execute("SELECT test_error FROM metrics WHERE run = ? AND test_error IS NOT NULL "
                               "ORDER BY step DESC LIMIT 1", (run_id,)).fetchone()
            loss = con.execute("SELECT loss FROM metrics WHERE run = ? AND loss IS NOT NULL "
                               "ORDER BY step DESC LIMIT 1", (run_id,)).fetchone()
        return Summary(train_error=math.nan if train_error is None else float(train_error),
                       test_error=None if test is None or test[0] is None else float(test[0]),
                       final_loss=None if loss is None or loss[0] is None else float(loss[0]))

    # Weights.

    def state_dict(self, run_id: int) -> dict[str, torch.Tensor]:
        """A run's final weights, loaded without unpickling anything but tensors."""
        info = self.run(run_id)
        with self._read() as con:
            row = con.execute("SELECT state_dict FROM weights WHERE run = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"run {run_id} ({info.name}, {info.status}) has no stored weights: only runs that "
                             "finished or were stopped after training keep them")
        return read_state_dict(row[0], f"the weights of run {run_id}")

    def runs_with_weights(self) -> set[int]:
        """Ids of the runs whose final weights are stored, so `load_model` can rebuild them."""
        with self._read() as con:
            return {int(row[0]) for row in con.execute("SELECT run FROM weights")}

    def load_model(self, run_id: int) -> ResidualNet:
        """The run's network with its final weights and shortcut switches, on the CPU, in eval mode."""
        info = self.run(run_id)
        state = self.state_dict(run_id)
        model = build_net(info.config, info.sample_shape, info.num_classes)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise StoreError(f"the weights of run {run_id} do not fit its config ({one_line(err)})") from None
        for _, block, on in self.events(run_id):  # the shortcuts as the run left them
            model.set_shortcut(block, on)
        return model.eval()

    # Export and import (exports.py, imports.py).

    def tables(self, run_id: int) -> dict[str, pd.DataFrame]:
        """Full-resolution tables of a run: "steps" (per-step metrics), "blocks", "layers", "events"."""
        return exports.tables(self, run_id)

    def export_tables(self, run_id: int, folder: str | os.PathLike, fmt: str = "csv") -> list[Path]:
        """Write the run's tables as run-ID-TABLE.csv or .parquet into `folder`; returns the files."""
        return exports.export_tables(self, run_id, folder, fmt)

    def export_run(self, run_id: int, path: str | os.PathLike) -> Path:
        """Write one run, everything included, as a run file (a one-run store) that `import_run` reads."""
        return exports.export_run(self, run_id, path)

    def import_run(self, path: str | os.PathLike) -> imports.Imported:
        """Copy every run of a run file (or of another store) into this store; runs it holds are skipped."""
        return imports.import_run(self, path)

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ("ok" when sound)."""
        with self._read() as con:
            return con.execute("PRAGMA integrity_check").fetchone()[0]
