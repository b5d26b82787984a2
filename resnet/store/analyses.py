"""Analysis results in the run store: a pair's lesion study (and other kinds) kept, so a talk replays it.

A result is keyed by its pair's stable key, its kind and its settings; a study that trains its own
nets (shattered gradients: records.STUDY_KINDS) has no pair and is keyed by records.STUDY_KEY
instead. It is checked when written and again whenever it is read (the file may come from another
machine): a damaged one is a StoreError naming the store, the pair and the field, never a figure
drawn from bad numbers.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from resnet.analysis.records import STUDY_KEY, STUDY_KINDS, check_params, decode, encode
from resnet.analysis.results import Analysis, ShatteredResult
from resnet.store.errors import StoreError, one_line

if TYPE_CHECKING:
    from resnet.store.store import RunStore

MAX_RESULT = 4_000_000  # characters of one result's JSON: a lesion study of 1,000 blocks is about 100 kB
Recorded = Analysis | ShatteredResult  # what a kept result reads back as: a pair's analysis, or a study


def params_text(params: dict) -> str:
    """An analysis's settings as the store keys them: JSON with sorted keys."""
    return json.dumps(check_params(dict(params)), sort_keys=True)


def check_record(kind: str, params: str, result: str) -> None:
    """Check one stored row's kind, settings and result; a ValueError names the field."""
    if not isinstance(params, str) or not isinstance(result, str) or len(result) > MAX_RESULT:
        raise ValueError(f"result: expected JSON text of at most {MAX_RESULT:,} characters")
    try:
        check_params(json.loads(params))
        record = json.loads(result)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"params/result: not valid JSON ({one_line(err)})") from None
    decode(kind, record)


def _run_ids(store: RunStore, pair: str, kind: str) -> tuple[int, int]:
    """(plain, residual) ids of the twins a result keyed by `pair` was computed on; (0, 0) for a study's.

    A StoreError unless the store holds both twins, or, for a kind with no pair, unless `pair` is the study key.
    """
    if kind in STUDY_KINDS:
        if pair != STUDY_KEY:
            raise StoreError(f"a {kind} result has no pair: it is kept under the study key {STUDY_KEY!r}, "
                             f"not {pair!r}")
        return 0, 0
    plain, residual = store.pair(pair)
    return plain.id, residual.id


def save_analysis(store: RunStore, pair: str, kind: str, params: dict, analysis: Recorded) -> None:
    """Keep `analysis` (computed on the pair with key `pair`, or a study under STUDY_KEY) under its kind and
    settings, replacing an older one."""
    _run_ids(store, pair, kind)
    result = json.dumps(encode(kind, analysis))
    if len(result) > MAX_RESULT:
        raise StoreError(f"the {kind} result is {len(result):,} characters of JSON, more than the "
                         f"{MAX_RESULT:,} the store keeps")
    decode(kind, json.loads(result))  # what is written reads back
    with store._write() as con:
        con.execute("INSERT OR REPLACE INTO analyses (pair, kind, params, result, created) VALUES (?, ?, ?, ?, ?)",
                    (pair, kind, params_text(params), result, time.time()))


def read_analysis(store: RunStore, pair: str, kind: str, params: dict) -> Recorded | None:
    """The result kept for this pair (or STUDY_KEY), kind and settings, or None; a StoreError if it is damaged."""
    with store._read() as con:
        row = con.execute("SELECT result FROM analyses WHERE pair = ? AND kind = ? AND params = ?",
                          (pair, kind, params_text(params))).fetchone()
    if row is None:
        return None
    ids = _run_ids(store, pair, kind)
    try:
        if not isinstance(row[0], str) or len(row[0]) > MAX_RESULT:
            raise ValueError(f"result: expected JSON text of at most {MAX_RESULT:,} characters")
        return decode(kind, json.loads(row[0]), ids)
    except (ValueError, RecursionError) as err:
        whose = "" if kind in STUDY_KINDS else f" of pair {pair!r}"
        raise StoreError(f"run store {store.path}: the {kind} result{whose} is damaged ({one_line(err)})") from None
