"""Analysis results as the run store keeps them: JSON records, encoded once, checked field by field when read.

A record is untrusted when it is read back (it may come from another machine's file): every field is
checked for its type, its size and finite numbers in range before a figure sees it, and a bad one is
a ValueError that starts with the field (`result.single.plain: ...`).
"""

from __future__ import annotations

import math

import numpy as np

from resnet.analysis.results import (
    MAX_DRAWS,
    MAX_K_VALUES,
    Analysis,
    Landscape,
    Landscapes,
    LesionResult,
    PairSummary,
)

RECORDED_KINDS = ("lesion", "landscape")  # the analyses whose results the store keeps and a talk replays
TWINS = ("plain", "residual")
MAX_BLOCKS = 1_000
MAX_TEXT = 2_000
MAX_SAMPLES = 10_000_000
MAX_POINTS = 1_001  # points along one axis of a landscape
MAX_LOSS = 1e30  # a diverged point's loss is huge, not infinite


def lesion_params(draws: int, seed: int) -> dict:
    """The settings a lesion study's result is kept under (with its pair and kind)."""
    return {"draws": draws, "seed": seed}


def landscape_params(resolution: int, samples: int, span: float, points_1d: int, seed: int) -> dict:
    """The settings a loss landscape's result is kept under (with its pair and kind)."""
    return {"resolution": resolution, "samples": samples, "span": float(span), "points_1d": points_1d, "seed": seed}


def _twins(values: dict) -> dict:
    return {t: np.asarray(values[t], float).tolist() for t in TWINS}


def _encode_landscape(grid: Landscape) -> dict:
    return {"alphas": np.asarray(grid.alphas, float).tolist(), "betas": np.asarray(grid.betas, float).tolist(),
            "loss": _twins(grid.loss), "accuracy": _twins(grid.accuracy), "samples": int(grid.samples),
            "rows_done": int(grid.rows_done)}


def encode(kind: str, analysis: Analysis) -> dict:
    """An analysis's result and its pair's summary as a JSON-ready record."""
    if kind not in RECORDED_KINDS:
        raise ValueError(f"kind: results of {kind!r} are not kept; kept: {', '.join(RECORDED_KINDS)}")
    p, r = analysis.pair, analysis.result
    pair = {"source": p.source, "test_error": [float(e) for e in p.test_error], "test_samples": int(p.test_samples),
            "dataset": p.dataset, "is_image": bool(p.is_image), "num_classes": int(p.num_classes),
            "depth": int(p.depth)}
    if kind == "landscape":
        return {"pair": pair, "result": {"grid": _encode_landscape(r.grid), "line": _encode_landscape(r.line)}}
    result = {"block_names": list(r.block_names), "intact": {t: float(r.intact[t]) for t in TWINS},
              "single": _twins(r.single), "k": np.asarray(r.k, int).tolist(), "random": _twins(r.random),
              "shape_changing": [int(i) for i in r.shape_changing], "chance": float(r.chance)}
    return {"pair": pair, "result": result}


def _fail(field: str, expected: str, value: object) -> ValueError:
    text = repr(value)
    return ValueError(f"{field}: expected {expected}, got {text if len(text) <= 40 else text[:37] + '...'}")


def _table(field: str, value: object, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict) or set(value) != set(keys):
        raise _fail(field, f"an object with exactly {', '.join(keys)}", value)
    return value


def _int(field: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(field, f"an integer from {lo} to {hi}", value)
    return value


def _text(field: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _fail(field, f"text of at most {MAX_TEXT} characters", value)
    return value


def _fractions(field: str, value: object, shape: tuple[int, ...], lo: float = 0.0, hi: float = 1.0,
               what: str = "fraction(s) from 0 to 1") -> np.ndarray:
    """A nested list of finite numbers from `lo` to `hi` of exactly `shape`."""
    expected = f"{' x '.join(map(str, shape)) or 'one'} finite {what}"
    if len(shape) == 0:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not lo <= value <= hi:
            raise _fail(field, expected, value)
        return np.float64(value)
    if not isinstance(value, list) or len(value) != shape[0]:
        raise _fail(field, expected, value)
    return np.asarray([_fractions(f"{field}[{i}]", v, shape[1:], lo, hi, what) for i, v in enumerate(value)],
                      np.float64)


def _length(field: str, value: object) -> int:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_POINTS:
        raise _fail(field, f"a list of 1 to {MAX_POINTS} numbers", value)
    return len(value)


def _landscape(field: str, value: object) -> Landscape:
    g = _table(field, value, ("alphas", "betas", "loss", "accuracy", "samples", "rows_done"))
    n, m = _length(f"{field}.alphas", g["alphas"]), _length(f"{field}.betas", g["betas"])
    coefficients = dict(lo=-MAX_LOSS, hi=MAX_LOSS, what="coefficient(s)")
    loss, accuracy = _table(f"{field}.loss", g["loss"], TWINS), _table(f"{field}.accuracy", g["accuracy"], TWINS)
    return Landscape(
        alphas=_fractions(f"{field}.alphas", g["alphas"], (n,), **coefficients),
        betas=_fractions(f"{field}.betas", g["betas"], (m,), **coefficients),
        loss={t: _fractions(f"{field}.loss.{t}", loss[t], (m, n), 0.0, MAX_LOSS, "loss(es) from 0") for t in TWINS},
        accuracy={t: _fractions(f"{field}.accuracy.{t}", accuracy[t], (m, n)) for t in TWINS},
        samples=_int(f"{field}.samples", g["samples"], 1, MAX_SAMPLES),
        rows_done=_int(f"{field}.rows_done", g["rows_done"], m, m),  # a kept result is complete
    )


def _summary(record: object, run_ids: tuple[int, int]) -> tuple[PairSummary, object]:
    """The pair's summary of a record, and its (unchecked) result."""
    record = _table("record", record, ("pair", "result"))
    p = _table("pair", record["pair"], ("source", "test_error", "test_samples", "dataset", "is_image",
                                        "num_classes", "depth"))
    if not isinstance(p["is_image"], bool):
        raise _fail("pair.is_image", "true or false", p["is_image"])
    test_error = _fractions("pair.test_error", p["test_error"], (2,))
    summary = PairSummary(_text("pair.source", p["source"]), (float(test_error[0]), float(test_error[1])),
                          _int("pair.test_samples", p["test_samples"], 1, MAX_SAMPLES),
                          _text("pair.dataset", p["dataset"]), p["is_image"],
                          _int("pair.num_classes", p["num_classes"], 1, 1_000),
                          _int("pair.depth", p["depth"], 1, 10_000), run_ids)
    return summary, record["result"]


def _landscapes(record: object, run_ids: tuple[int, int]) -> Analysis[Landscapes]:
    summary, result = _summary(record, run_ids)
    r = _table("result", result, ("grid", "line"))
    return Analysis(summary, Landscapes(_landscape("result.grid", r["grid"]), _landscape("result.line", r["line"])))


def _lesion(record: object, run_ids: tuple[int, int]) -> Analysis[LesionResult]:
    summary, result = _summary(record, run_ids)
    r = _table("result", result, ("block_names", "intact", "single", "k", "random", "shape_changing",
                                            "chance"))
    names = r["block_names"]
    if (not isinstance(names, list) or not 1 <= len(names) <= MAX_BLOCKS
            or not all(isinstance(n, str) and len(n) <= 200 for n in names)):
        raise _fail("result.block_names", f"a list of 1 to {MAX_BLOCKS} names", names)
    n_blocks = len(names)
    k = r["k"]
    if (not isinstance(k, list) or not 1 <= len(k) <= max(MAX_K_VALUES, n_blocks + 1)
            or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= n_blocks for v in k)
            or k != sorted(set(k))):
        raise _fail("result.k", f"increasing numbers of deleted blocks from 0 to {n_blocks}", k)
    random = _table("result.random", r["random"], TWINS)
    draws = len(random["plain"][0]) if isinstance(random["plain"], list) and random["plain"] \
        and isinstance(random["plain"][0], list) else 0
    if not 1 <= draws <= MAX_DRAWS:
        raise _fail("result.random.plain", f"{len(k)} lists of 1 to {MAX_DRAWS} draws", random["plain"])
    changing = r["shape_changing"]
    if not isinstance(changing, list) or len(changing) > n_blocks:
        raise _fail("result.shape_changing", f"a list of block indices from 0 to {n_blocks - 1}", changing)
    intact = _table("result.intact", r["intact"], TWINS)
    single = _table("result.single", r["single"], TWINS)
    result = LesionResult(
        block_names=list(names),
        intact={t: float(_fractions(f"result.intact.{t}", intact[t], ())) for t in TWINS},
        single={t: _fractions(f"result.single.{t}", single[t], (n_blocks,)) for t in TWINS},
        k=np.asarray(k, np.int64),
        random={t: _fractions(f"result.random.{t}", random[t], (len(k), draws)) for t in TWINS},
        shape_changing=[_int(f"result.shape_changing[{i}]", v, 0, n_blocks - 1) for i, v in enumerate(changing)],
        chance=float(_fractions("result.chance", r["chance"], ())),
    )
    return Analysis(summary, result)


def decode(kind: str, record: object, run_ids: tuple[int, int] = (0, 0)) -> Analysis:
    """A record read back as the analysis page's result; a ValueError names the first bad field."""
    if kind not in RECORDED_KINDS:
        raise _fail("kind", f"one of {', '.join(RECORDED_KINDS)}", kind)
    return (_lesion if kind == "lesion" else _landscapes)(record, run_ids)


def check_params(value: object) -> dict:
    """An analysis's settings: a JSON object of a few numbers from 0 to 2^31 - 1 (draws, seed, span, ...)."""
    if (not isinstance(value, dict) or len(value) > 16
            or not all(isinstance(k, str) and len(k) <= 40 for k in value)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       and 0 <= v < 2**31 for v in value.values())):
        raise _fail("params", "an object of at most 16 named numbers from 0 to 2^31 - 1", value)
    return value
