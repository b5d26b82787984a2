"""Checks on a run read from a foreign file, before any of it lands: types, JSON, ranges, sizes, shapes.

Each check raises Refused with the field it is about; imports.py turns that into one line naming
the file, the run and the field, and imports the file's other runs all the same.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3

import torch

from resnet.analysis.records import STUDY_KEY
from resnet.probes import STATS, layer_weights
from resnet.store.errors import StoreError, one_line
from resnet.store.schema import FLOAT32, STATUSES
from resnet.store.weights import build_net, read_state_dict
from resnet.trainer import MAX_STEPS, TrainConfig

MAX_TEXT = 2_000  # characters in a name, tag, host, device or message
MAX_JSON = 256_000  # characters of a config or a list of block or layer names
MAX_EVENTS = 100_000
MAX_CLASSES = 1_000
MAX_SAMPLE = 3 * 512 * 512  # numbers in one input sample
KEY = re.compile(r"[0-9a-f]{8,64}")


class Refused(ValueError):
    """A run of a foreign file that fails a check; the message starts with the field."""


def _text(d: dict, field: str, *, optional: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = d[field]
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Refused(f"{field}: expected text of at most {limit} characters, got {_show(value)}")
    return value


def _int(d: dict, field: str, lo: int, hi: int, *, optional: bool = False) -> int | None:
    value = d[field]
    if value is None and optional:
        return None
    if not isinstance(value, int) or not lo <= value <= hi:
        raise Refused(f"{field}: expected an integer from {lo} to {hi}, got {_show(value)}")
    return value


def _real(d: dict, field: str, lo: float, hi: float, *, optional: bool = False) -> float | None:
    value = d[field]
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise Refused(f"{field}: expected a number from {lo:g} to {hi:g}, got {_show(value)}")
    return float(value)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json(d: dict, field: str):
    text = _text(d, field, limit=MAX_JSON)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise Refused(f"{field}: not valid JSON ({one_line(err)})") from None


def check_run(d: dict) -> tuple[TrainConfig, torch.nn.Module]:
    """Check a runs row (a dict of its columns); returns its config and its net, built without memory."""
    _text(d, "key", optional=True, limit=64)
    if d["key"] is not None and not KEY.fullmatch(d["key"]):
        raise Refused(f"key: expected 8 to 64 lower-case hex digits, got {_show(d['key'])}")
    for field in ("name", "device", "message"):
        _text(d, field)
    for field in ("sweep", "host", "pair"):
        _text(d, field, optional=True)
    if d["pair"] == STUDY_KEY:  # the analyses table's key of results with no pair: a run never holds it
        raise Refused(f"pair: {STUDY_KEY!r} is the key of studies with no pair, not a pair's key")
    if d["status"] not in STATUSES:
        raise Refused(f"status: expected one of {', '.join(STATUSES)}, got {_show(d['status'])}")
    total = _int(d, "total_steps", 1, MAX_STEPS)
    _int(d, "steps", 0, total)
    _real(d, "started", 0, 1e11)
    _real(d, "ended", 0, 1e11, optional=True)
    _real(d, "seconds", 0, 1e9)
    _int(d, "pid", 0, 2**31, optional=True)
    num_classes = _int(d, "num_classes", 1, MAX_CLASSES)
    config_dict = _json(d, "config")
    if not isinstance(config_dict, dict):
        raise Refused(f"config: expected a JSON object, got {_show(config_dict)}")
    try:  # the engine's own bounds: depth, width, lr, ... as a config from the UI or CLI meets them
        config = TrainConfig.from_dict(config_dict)
    except (TypeError, ValueError) as err:
        raise Refused(f"config: {one_line(err)}") from None
    shape = _json(d, "sample_shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
            or math.prod(shape) > MAX_SAMPLE):
        raise Refused(f"sample_shape: expected 1 to 3 positive sizes, at most {MAX_SAMPLE:,} numbers, got "
                      f"{_show(shape)}")
    try:
        with torch.device("meta"):  # shapes only: no memory, however large the config
            net = build_net(config, tuple(shape), num_classes)
    except Exception as err:  # noqa: BLE001 - any failure to build means the row does not describe a net
        raise Refused(f"config: its network cannot be built for sample_shape {shape} ({one_line(err)})") from None
    for field, expect in (("blocks", net.block_names()), ("layers", [n for n, _ in layer_weights(net)])):
        names = _json(d, field)
        if names != expect:
            raise Refused(f"{field}: the names do not match the config's network ({len(expect)} expected)")
    return config, net


def _count(con: sqlite3.Connection, table: str, run: int) -> int:
    return con.execute(f"SELECT COUNT(*) FROM {table} WHERE run = ?", (run,)).fetchone()[0]


def _bounded(con: sqlite3.Connection, table: str, run: int, limit: int, file_size: int) -> None:
    n = _count(con, table, run)
    if n > limit or n > file_size:  # no row takes less than a byte: more means a damaged file
        raise Refused(f"{table}: {n:,} rows, more than the {limit:,} a run of its size can have")


def _numbers(rows: list[tuple], table: str, names: tuple[str, ...], integer: tuple[str, ...]) -> None:
    for row in rows:
        for name, value in zip(names, row, strict=True):
            ok = (isinstance(value, int) if name in integer else
                  value is None or (isinstance(value, (int, float)) and not math.isnan(value)))
            if not ok:
                raise Refused(f"{table}.{name}: expected {'an integer' if name in integer else 'a number'}, "
                              f"got {_show(value)}")


def read_children(con: sqlite3.Connection, run: int, d: dict, net: torch.nn.Module, file_size: int) -> dict:
    """A checked run's rows of every child table, read with explicit SELECTs: {table: rows}."""
    total, n_blocks, n_layers = d["total_steps"], len(net.blocks), len(layer_weights(net))
    out = {}
    _bounded(con, "metrics", run, total + 1, file_size)
    rows = con.execute("SELECT step, loss, train_error, test_error FROM metrics WHERE run = ?", (run,)).fetchall()
    _numbers(rows, "metrics", ("step", "loss", "train_error", "test_error"), ("step",))
    for step, loss, train_error, test_error in rows:
        if not 0 <= step <= total or (loss is not None and loss < 0):
            raise Refused(f"metrics: step {step} or its loss {loss} is out of range")
        for name, e in (("train_error", train_error), ("test_error", test_error)):
            if e is not None and not 0 <= e <= 1:
                raise Refused(f"metrics.{name}: expected a fraction from 0 to 1, got {e}")
    out["metrics"] = rows
    for table, width in (("block_stats", n_blocks * len(STATS)), ("layer_stats", n_layers)):
        _bounded(con, table, run, total, file_size)
        rows = con.execute(f"SELECT step, span, typeof(mean), length(mean), typeof(min), length(min), "
                           f"typeof(max), length(max) FROM {table} WHERE run = ?", (run,)).fetchall()
        size = width * FLOAT32.itemsize
        for step, span, *blobs in rows:
            if not (isinstance(step, int) and isinstance(span, int) and 1 <= step <= total and 1 <= span <= total):
                raise Refused(f"{table}: step {_show(step)} or span {_show(span)} is out of range")
            kinds, lengths = blobs[::2], blobs[1::2]
            if kinds[0] != "blob" or lengths[0] != size or any(
                    not (k == "null" or (k == "blob" and n == size)) for k, n in zip(kinds[1:], lengths[1:],
                                                                                     strict=True)):
                raise Refused(f"{table}: step {step} does not hold {width} float32 numbers")
        out[table] = con.execute(f"SELECT step, span, mean, min, max FROM {table} WHERE run = ?", (run,)).fetchall()
    _bounded(con, "events", run, MAX_EVENTS, file_size)
    rows = con.execute("SELECT step, block, shortcut_on FROM events WHERE run = ? ORDER BY rowid", (run,)).fetchall()
    for step, block, on in rows:
        if not (isinstance(step, int) and 0 <= step <= total and (block is None or isinstance(block, int)
                and 0 <= block < n_blocks) and on in (0, 1) and isinstance(on, int)):
            raise Refused(f"events: ({_show(step)}, {_show(block)}, {_show(on)}) is not a shortcut switch of this net")
    out["events"] = rows
    _bounded(con, "responses", run, n_layers + n_blocks + 1, file_size)
    rows = con.execute("SELECT layer, name, std FROM responses WHERE run = ?", (run,)).fetchall()
    for layer, name, std in rows:
        if not (isinstance(layer, int) and isinstance(name, str) and len(name) <= MAX_TEXT
                and (std is None or isinstance(std, (int, float)))):
            raise Refused(f"responses: ({_show(layer)}, {_show(name)}, {_show(std)}) is not a layer's std")
    out["responses"] = rows
    out["weights"] = _weights(con, run, net, total)
    return out


def _weights(con: sqlite3.Connection, run: int, net: torch.nn.Module, total: int) -> list[tuple]:
    """The run's weights row, if any: its tensors must be exactly the net's (names, shapes), and nothing else."""
    if _count(con, "weights", run) > 1:
        raise Refused("weights: more than one row")
    meta = con.execute("SELECT step, typeof(state_dict), length(state_dict) FROM weights WHERE run = ?",
                       (run,)).fetchone()
    if meta is None:
        return []
    expect = net.state_dict()
    budget = 2 * sum(t.numel() * 8 for t in expect.values()) + 1_000_000  # float64 at most, plus the archive
    step, kind, length = meta
    if not isinstance(step, int) or not 0 <= step <= total or kind != "blob" or length > budget:
        raise Refused(f"weights: a {kind} of {length:,} bytes at step {_show(step)}; its net needs at most "
                      f"{budget:,}")
    blob = con.execute("SELECT state_dict FROM weights WHERE run = ?", (run,)).fetchone()[0]
    try:
        state = read_state_dict(blob, "weights")  # torch.load(weights_only=True): tensors, never objects
    except StoreError as err:
        raise Refused(str(err)) from None
    if state.keys() != expect.keys() or any(state[k].shape != expect[k].shape for k in expect):
        raise Refused("weights: the tensors do not match the config's network (names or shapes differ)")
    if any(not torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise Refused("weights: a tensor holds NaN or infinity")
    return [(step, blob)]

