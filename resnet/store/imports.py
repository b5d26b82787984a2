"""Run files into the store: every run of another store or an exported run file, checked, under new ids.

A run file is untrusted. It is opened read-only with `trusted_schema` off and checked whole (an
SQLite header, `quick_check`, the known tables being tables, their columns, its version); only
the known tables' known columns are read, with explicit SELECTs, so no view or trigger of the
file is ever used. Each run is then checked (validate.py) before any of it lands: one that fails
is refused with a line naming the file, the run and the field, and the file's other runs come in.
The analysis results kept for the file's pairs are checked the same way, each on its own; a study's
(shattered gradients, kept under the study key, not a pair's) comes in without any run.
An older file is migrated first, on a private copy stripped of its views and triggers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from resnet.analysis.records import STUDY_KEY, STUDY_KINDS
from resnet.store.analyses import check_record, params_text
from resnet.store.errors import StoreError, one_line
from resnet.store.schema import ANALYSIS_COLUMNS, CHILD_TABLES, RUN_COLUMNS, SCHEMA_VERSION, V1_RUN_COLUMNS, new_key
from resnet.store.validate import KEY, Refused, check_run, read_children

if TYPE_CHECKING:
    from resnet.store.store import RunStore

HEADER = b"SQLite format 3\x00"
TABLES = ("runs", *CHILD_TABLES)
MAX_RUNS = 10_000  # runs in one file
MAX_ANALYSES = 10_000  # analysis results in one file


@dataclass(frozen=True)
class Imported:
    """What an import did: the new ids, and one line for each run it left out and why."""

    ids: list[int]
    skipped: list[str] = field(default_factory=list)  # runs already in the store (same key)
    refused: list[str] = field(default_factory=list)  # runs and results that failed a check, naming the field
    analyses: int = 0  # analysis results that came in with the runs' pairs

    def summary(self, store_path: Path) -> str:
        """One line for a front end: what came in, then what did not."""
        done = (f"imported {len(self.ids)} run(s) into {store_path}" +
                (f" as {', '.join(map(str, self.ids))}" if self.ids else "") +
                (f", with {self.analyses} analysis result(s)" if self.analyses else ""))
        return "; ".join([done, *self.skipped, *self.refused])


def import_run(store: RunStore, path: str | os.PathLike) -> Imported:
    """Copy every sound run of a run file (or of another store) into `store`; runs it already holds are skipped."""
    from resnet.store.store import refuse_if_read_only  # the store module imports this one

    refuse_if_read_only("import runs")
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no run file at {path}")
    if path.resolve() == store.path.resolve():
        raise StoreError(f"{path} is this store itself; import from another file")
    with path.open("rb") as f:
        if f.read(len(HEADER)) != HEADER:
            raise StoreError(f"{path} is not a run file (not an SQLite file)")
    size = path.stat().st_size
    version = _inspect(path, _uri(path))
    with tempfile.TemporaryDirectory() as tmp:
        source = path
        if version < SCHEMA_VERSION:
            source = Path(tmp) / "older.db"
            shutil.copyfile(path, source)
            _strip(source)
            try:
                type(store)(source)  # migrates the copy to this version
            except StoreError as err:
                raise StoreError(f"{path} is an older run file that cannot be migrated ({err})") from None
        return _import(store, path, _uri(source), size)


def _uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"  # read-only: importing never changes the file


@contextlib.contextmanager
def _open(uri: str, path: Path):
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as con:
            con.execute("PRAGMA trusted_schema = OFF")
            yield con
    except sqlite3.Error as err:
        raise StoreError(f"{path} is not a run file ({one_line(err)})") from None


def _inspect(path: Path, uri: str) -> int:
    """The file's schema version, once it is sound and shaped as a run file of that version."""
    with _open(uri, path) as con:
        verdict = con.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise StoreError(f"{path} is damaged (SQLite's quick_check: {verdict})")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name IN "
                                 f"({', '.join('?' * (len(TABLES) + 1))})", (*TABLES, "analyses")).fetchall())
        if kinds.get("runs") != "table":
            raise StoreError(f"{path} is not a run file (no runs table)")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path} was written by a newer version of the lab (schema {version}; this one "
                             f"reads up to {SCHEMA_VERSION}); update the lab to import it")
        version = max(version, 1)
        for table in TABLES:
            if kinds.get(table) != "table":
                raise StoreError(f"{path} is not a run file: {table} is "
                                 f"{'missing' if table not in kinds else 'a ' + kinds[table] + ', not a table'}")
        need = {"runs": {"id", *(RUN_COLUMNS if version >= 2 else V1_RUN_COLUMNS)}}
        if version == SCHEMA_VERSION:
            need |= {t: {"run", *cols} for t, cols in CHILD_TABLES.items()}
            if kinds.get("analyses", "table") != "table":
                raise StoreError(f"{path} is not a run file: analyses is a {kinds['analyses']}, not a table")
            if "analyses" in kinds:  # a file of runs alone may leave it out
                need["analyses"] = {"id", *ANALYSIS_COLUMNS}
        for table, cols in need.items():
            missing = cols - {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            if missing:
                raise StoreError(f"{path} is not a run file (its {table} table lacks {', '.join(sorted(missing))})")
    return version


def _strip(copy: Path) -> None:
    """Drop every view and trigger of a private copy, so migrating it runs none of the file's own SQL."""
    with contextlib.closing(sqlite3.connect(copy, isolation_level=None)) as con:
        con.execute("PRAGMA trusted_schema = OFF")
        for kind, name in con.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')"
                                      ).fetchall():
            con.execute(f'DROP {kind.upper()} IF EXISTS "{name.replace(chr(34), chr(34) * 2)}"')


def _import(store: RunStore, path: Path, uri: str, size: int) -> Imported:
    checked, refused = [], []
    with _open(uri, path) as con:
        n = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if n > MAX_RUNS or n > size:
            raise StoreError(f"{path} is not a run file it can take ({n:,} runs; at most {MAX_RUNS:,})")
        for row in con.execute(f"SELECT id, {', '.join(RUN_COLUMNS)} FROM runs ORDER BY id").fetchall():
            d = dict(zip(("id", *RUN_COLUMNS), row, strict=True))
            try:
                if not isinstance(d["id"], int):
                    raise Refused(f"id: expected an integer, got {d['id']!r}")
                _, net = check_run(d)
                checked.append((d, read_children(con, d["id"], d, net, size)))
            except Refused as err:
                refused.append(f"{path.name}: run {d['id']!r} ({str(d['name'])[:40]}) refused: {err}")
        results = _analyses(con, path, size, refused)
    ids, skipped = [], []
    with store._write() as con:
        for d, children in checked:
            there = con.execute("SELECT id FROM runs WHERE key = ?", (d["key"],)).fetchone()
            if there is not None:
                skipped.append(f"run {d['id']} ({d['name']}) of {path.name} is already here as run {there[0]}; "
                               "skipped")
                continue
            ids.append(_insert(con, d, children))
        pairs = {r[0] for r in con.execute("SELECT DISTINCT pair FROM runs WHERE pair IS NOT NULL")}
        added = 0
        for number, row in results:
            if row[1] not in STUDY_KINDS and row[0] not in pairs:
                refused.append(f"{path.name}: analysis {number} ({row[1]} of pair {row[0]}) refused: pair: "
                               "no run of this pair came in")
                continue
            cur = con.execute(f"INSERT OR IGNORE INTO analyses ({', '.join(ANALYSIS_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                              row)
            added += cur.rowcount
    return Imported(ids, skipped, refused, added)


def _analyses(con: sqlite3.Connection, path: Path, size: int, refused: list[str]) -> list[tuple[int, tuple]]:
    """The file's analysis results that pass every check, as (number, row); a line in `refused` for each other."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'analyses' AND type = 'table'").fetchone() is None:
        return []
    n = con.execute("SELECT COUNT(*) FROM analyses").fetchone()[0]
    if n > MAX_ANALYSES or n > size:
        refused.append(f"{path.name}: analyses refused: {n:,} rows, more than the {MAX_ANALYSES:,} a file may hold")
        return []
    out = []
    for number, pair, kind, params, result, created in con.execute(
            f"SELECT id, {', '.join(ANALYSIS_COLUMNS)} FROM analyses ORDER BY id").fetchall():
        try:
            if kind in STUDY_KINDS:
                if pair != STUDY_KEY:
                    raise ValueError(f"pair: expected the study key {STUDY_KEY!r} (a {kind} result has no pair), "
                                     f"got {str(pair)[:40]!r}")
            elif not isinstance(pair, str) or not KEY.fullmatch(pair):
                raise ValueError(f"pair: expected a pair's key (8 to 64 lower-case hex digits), got {str(pair)[:40]!r}")
            if not isinstance(created, (int, float)) or not 0 <= created <= 1e11:
                raise ValueError(f"created: expected unix seconds, got {str(created)[:40]!r}")
            check_record(kind, params, result)
            out.append((number, (pair, kind, params_text(json.loads(params)), result, float(created))))
        except ValueError as err:
            refused.append(f"{path.name}: analysis {number!r} ({str(kind)[:20]} of pair {str(pair)[:20]}) refused: "
                           f"{one_line(err)}")
    return out


def _insert(con: sqlite3.Connection, d: dict, children: dict[str, list[tuple]]) -> int:
    """Write one checked run and its rows under a new id; returns it."""
    row = {**d, "key": d["key"] or new_key(),
           "status": "interrupted" if d["status"] == "running" else d["status"]}  # not running in the copy
    cur = con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                      [row[c] for c in RUN_COLUMNS])
    new = int(cur.lastrowid)
    for table, cols in CHILD_TABLES.items():
        con.executemany(f"INSERT INTO {table} (run, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))})",
                        [(new, *r) for r in children[table]])
    return new
