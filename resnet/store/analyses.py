"""Analysis results in the run store: a pair's lesion study (and other kinds) kept, so a talk replays it.

A result is keyed by its pair's stable key, its kind and its settings. It is checked when written and
again whenever it is read (the file may come from another machine): a damaged one is a StoreError
naming the store, the pair and the field, never a figure drawn from bad numbers.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from resnet.analysis.records import check_params, decode, encode
from resnet.analysis.results import Analysis
from resnet.store.errors import StoreError, one_line

if TYPE_CHECKING:
    from resnet.store.store import RunStore

MAX_RESULT = 4_000_000  # characters of one result's JSON: a lesion study of 1,000 blocks is about 100 kB


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


def save_analysis(store: RunStore, pair: str, kind: str, params: dict, analysis: Analysis) -> None:
    """Keep `analysis` (computed on the pair with key `pair`) under its kind and settings, replacing an older one."""
    store.pair(pair)  # a StoreError unless the store holds both twins
    result = json.dumps(encode(kind, analysis))
    decode(kind, json.loads(result))  # what is written reads back
    with store._write() as con:
        con.execute("INSERT OR REPLACE INTO analyses (pair, kind, params, result, created) VALUES (?, ?, ?, ?, ?)",
                    (pair, kind, params_text(params), result, time.time()))


def read_analysis(store: RunStore, pair: str, kind: str, params: dict) -> Analysis | None:
    """The result kept for this pair, kind and settings, or None; a StoreError if it is damaged."""
    with store._read() as con:
        row = con.execute("SELECT result FROM analyses WHERE pair = ? AND kind = ? AND params = ?",
                          (pair, kind, params_text(params))).fetchone()
    if row is None:
        return None
    plain, residual = store.pair(pair)
    try:
        if not isinstance(row[0], str) or len(row[0]) > MAX_RESULT:
            raise ValueError(f"result: expected JSON text of at most {MAX_RESULT:,} characters")
        return decode(kind, json.loads(row[0]), (plain.id, residual.id))
    except (ValueError, RecursionError) as err:
        raise StoreError(f"run store {store.path}: the {kind} result of pair {pair!r} is damaged "
                         f"({one_line(err)})") from None
