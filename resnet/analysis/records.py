"""Analysis results as the run store keeps them: JSON records, encoded once, checked field by field when read.

A record is untrusted when it is read back (it may come from another machine's file): every field is
checked for its type, its size and finite numbers in range before a figure sees it, and a bad one is
a ValueError that starts with the field (`result.single.plain: ...`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from resnet.analysis.results import (
    MAX_DRAWS,
    MAX_IMAGES,
    MAX_K_VALUES,
    SAMPLES,
    STEPS,
    Analysis,
    Attributions,
    BlockAttribution,
    InputAttribution,
    Landscape,
    Landscapes,
    LesionResult,
    PairSummary,
    ShatteredResult,
)
from resnet.analysis.shattered import MAX_DEPTH, MAX_LAG, MAX_SEEDS, MAX_STEPS, POINTS
from resnet.layers import NORMS
from resnet.nets import MAX_MLP_WIDTH

# The analyses whose results the store keeps and a talk replays.
RECORDED_KINDS = ("lesion", "landscape", "attributions", "shattered")
STUDY_KINDS = ("shattered",)  # kinds that train their own nets: computed on no pair, kept under STUDY_KEY
STUDY_KEY = "study"  # the analyses table's pair column for them: never a pair's key (those are hex)
TWINS = ("plain", "residual")
STAGES = ("init", "trained")  # a shattered-gradients study's nets at initialisation and after training
MAX_BLOCKS = 1_000
MAX_TEXT = 2_000
MAX_SAMPLES = 10_000_000
MAX_POINTS = 1_001  # points along one axis of a landscape
MAX_LOSS = 1e30  # a diverged point's loss is huge, not infinite
MAX_NUMBER = float(np.finfo(np.float32).max)  # attributions and gradients come from float32 tensors
MAX_SIDE = 64  # pixels along either side of an attributed image
MAX_NAME = 200  # characters in a block's name
MAX_LIST = MAX_DEPTH  # whole numbers in one listed setting (a study's depths, an attribution's images)
MAX_WORD = 40  # characters in a setting's name or a word-valued setting
ACF_SLACK = 1e-6  # an autocorrelation is at most 1 in size, give or take rounding


def lesion_params(draws: int, seed: int) -> dict:
    """The settings a lesion study's result is kept under (with its pair and kind)."""
    return {"draws": draws, "seed": seed}


def landscape_params(resolution: int, samples: int, span: float, points_1d: int, seed: int) -> dict:
    """The settings a loss landscape's result is kept under (with its pair and kind)."""
    return {"resolution": resolution, "samples": samples, "span": float(span), "points_1d": points_1d, "seed": seed}


def attributions_params(samples: int, n_steps: int, indices: Sequence[int], seed: int) -> dict:
    """The settings an attribution study's result is kept under (with its pair and kind)."""
    return {"samples": samples, "n_steps": n_steps, "indices": [int(i) for i in indices], "seed": seed}


def shattered_params(depths: Sequence[int], width: int, norm: str, points: int, seeds: int, steps: int) -> dict:
    """The settings a shattered-gradients study's result is kept under (with STUDY_KEY and its kind)."""
    return {"depths": sorted({int(d) for d in depths}), "width": width, "norm": norm, "points": points,
            "seeds": seeds, "steps": steps}


def _twins(values: dict) -> dict:
    return {t: np.asarray(values[t], float).tolist() for t in TWINS}


def _float32(values: object) -> list:
    """Numbers of a float32 tensor as the shortest text that reads back the same float32 (a third of float64's)."""
    return np.asarray(values, np.float32).astype(str).astype(np.float64).tolist()


def _float32_twins(values: dict) -> dict:
    return {t: _float32(values[t]) for t in TWINS}


def _rows(values: object, missing: object) -> list:
    """Rows of an array as float32 lists, None for the rows `missing` marks (a diverged net's)."""
    return [None if gone else _float32(row) for row, gone in zip(values, missing, strict=True)]


def _encode_landscape(grid: Landscape) -> dict:
    return {"alphas": np.asarray(grid.alphas, float).tolist(), "betas": np.asarray(grid.betas, float).tolist(),
            "loss": _twins(grid.loss), "accuracy": _twins(grid.accuracy), "samples": int(grid.samples),
            "rows_done": int(grid.rows_done)}


def _encode_attributions(r: Attributions) -> dict:
    b, m = r.blocks, r.inputs
    blocks = {"block_names": list(b.block_names), "share": _float32_twins(b.share), "samples": int(b.samples),
              "n_steps": int(b.n_steps)}
    if m is None:
        return {"blocks": blocks, "inputs": None}
    inputs = {"indices": [int(i) for i in m.indices], "labels": [int(i) for i in m.labels],
              "predicted": {t: [int(i) for i in m.predicted[t]] for t in TWINS}, "images": _float32(m.images),
              **{name: _float32_twins(getattr(m, name))
                 for name in ("integrated_gradients", "saliency", "delta", "output_change")}}
    return {"blocks": blocks, "inputs": inputs}


def _encode_shattered(r: ShatteredResult) -> dict:
    stages = STAGES if r.steps else STAGES[:1]
    gone = {("init", t): np.zeros(len(r.depths), bool) for t in TWINS} | {("trained", t): r.diverged[t] for t in TWINS}
    return {"depths": [int(d) for d in r.depths], "t": np.asarray(r.t, float).tolist(), "norm": r.norm,
            "width": int(r.width), "steps": int(r.steps),
            "gradient": {s: {t: _rows(r.gradient[(s, t)], gone[(s, t)]) for t in TWINS} for s in stages},
            "acf": {s: {t: _rows(r.acf[(s, t)], gone[(s, t)]) for t in TWINS} for s in stages},
            "train_error": {t: [None if not math.isfinite(e) else float(e) for e in r.train_error[t]] for t in TWINS},
            "diverged": {t: [bool(d) for d in r.diverged[t]] for t in TWINS}}


def encode(kind: str, analysis: Analysis | ShatteredResult) -> dict:
    """An analysis's result (and its pair's summary, for a kind computed on a pair) as a JSON-ready record."""
    if kind not in RECORDED_KINDS:
        raise ValueError(f"kind: results of {kind!r} are not kept; kept: {', '.join(RECORDED_KINDS)}")
    if kind == "shattered":
        return {"result": _encode_shattered(analysis)}
    p, r = analysis.pair, analysis.result
    pair = {"source": p.source, "test_error": [float(e) for e in p.test_error], "test_samples": int(p.test_samples),
            "dataset": p.dataset, "is_image": bool(p.is_image), "num_classes": int(p.num_classes),
            "depth": int(p.depth)}
    if kind == "landscape":
        return {"pair": pair, "result": {"grid": _encode_landscape(r.grid), "line": _encode_landscape(r.line)}}
    if kind == "attributions":
        return {"pair": pair, "result": _encode_attributions(r)}
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
    return _size(field, value, 1, MAX_POINTS, "numbers")


def _size(field: str, value: object, lo: int, hi: int, what: str) -> int:
    """The length of a list of `lo` to `hi` items (checked before any item is)."""
    if not isinstance(value, list) or not lo <= len(value) <= hi:
        raise _fail(field, f"a list of {lo} to {hi} {what}" if lo < hi else f"a list of {lo} {what}", value)
    return len(value)


def _ints(field: str, value: object, n: int, lo: int, hi: int) -> list[int]:
    """Exactly `n` integers from `lo` to `hi`."""
    _size(field, value, n, n, f"integers from {lo} to {hi}")
    return [_int(f"{field}[{i}]", v, lo, hi) for i, v in enumerate(value)]


def _names(field: str, value: object) -> list[str]:
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_BLOCKS
            or not all(isinstance(n, str) and len(n) <= MAX_NAME for n in value)):
        raise _fail(field, f"a list of 1 to {MAX_BLOCKS} names", value)
    return list(value)


def _numbers(field: str, value: object, shape: tuple[int, ...], lo: float = -MAX_NUMBER) -> np.ndarray:
    """Finite numbers in float32's range (from 0 when `lo` is 0) of exactly `shape`."""
    return _fractions(field, value, shape, lo, MAX_NUMBER, "number(s)" if lo else "number(s) from 0")


def _twin_arrays(field: str, value: object, shape: tuple[int, ...], lo: float = -MAX_NUMBER) -> dict[str, np.ndarray]:
    table = _table(field, value, TWINS)
    return {t: _numbers(f"{field}.{t}", table[t], shape, lo) for t in TWINS}


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
    names = _names("result.block_names", r["block_names"])
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


def _attributions(record: object, run_ids: tuple[int, int]) -> Analysis[Attributions]:
    summary, result = _summary(record, run_ids)
    r = _table("result", result, ("blocks", "inputs"))
    b = _table("result.blocks", r["blocks"], ("block_names", "share", "samples", "n_steps"))
    names = _names("result.blocks.block_names", b["block_names"])
    blocks = BlockAttribution(names, _twin_arrays("result.blocks.share", b["share"], (len(names),)),
                              _int("result.blocks.samples", b["samples"], *SAMPLES),
                              _int("result.blocks.n_steps", b["n_steps"], *STEPS))
    return Analysis(summary, Attributions(blocks, _inputs("result.inputs", r["inputs"], summary)))


def _inputs(field: str, value: object, pair: PairSummary) -> InputAttribution | None:
    """The pixel maps: present exactly when the pair's data are images (the job draws them only then)."""
    if not pair.is_image:
        if value is not None:
            raise _fail(field, "null (the pair's data are not images)", value)
        return None
    m = _table(field, value, ("indices", "labels", "predicted", "images", "integrated_gradients", "saliency",
                              "delta", "output_change"))
    n = _size(f"{field}.indices", m["indices"], 1, MAX_IMAGES, "test images")
    images = m["images"]
    _size(f"{field}.images", images, n, n, "images")
    h = _size(f"{field}.images[0]", images[0], 1, MAX_SIDE, "rows of pixels")
    w = _size(f"{field}.images[0][0]", images[0][0], 1, MAX_SIDE, "pixels")
    classes = pair.num_classes - 1
    predicted = _table(f"{field}.predicted", m["predicted"], TWINS)
    return InputAttribution(
        indices=_ints(f"{field}.indices", m["indices"], n, 0, pair.test_samples - 1),
        images=_numbers(f"{field}.images", images, (n, h, w)),
        labels=_ints(f"{field}.labels", m["labels"], n, 0, classes),
        predicted={t: _ints(f"{field}.predicted.{t}", predicted[t], n, 0, classes) for t in TWINS},
        integrated_gradients=_twin_arrays(f"{field}.integrated_gradients", m["integrated_gradients"], (n, h, w)),
        saliency=_twin_arrays(f"{field}.saliency", m["saliency"], (n, h, w), lo=0.0),
        delta=_twin_arrays(f"{field}.delta", m["delta"], (n,)),
        output_change=_twin_arrays(f"{field}.output_change", m["output_change"], (n,)),
    )


def _gaps(field: str, value: object, gone: np.ndarray, why: str, shape: tuple[int, ...], lo: float, hi: float,
          what: str) -> np.ndarray:
    """One row per depth: null (NaN) exactly where `gone` says, else finite numbers of `shape`."""
    _size(field, value, len(gone), len(gone), "rows, one a depth")
    out = np.full((len(gone), *shape), np.nan)
    for i, (row, missing) in enumerate(zip(value, gone, strict=True)):
        if not missing:
            out[i] = _fractions(f"{field}[{i}]", row, shape, lo, hi, what)
        elif row is not None:
            raise _fail(f"{field}[{i}]", f"null ({why})", row)
    return out


def _flags(field: str, value: object, n: int, trained: bool) -> np.ndarray:
    if (not isinstance(value, list) or len(value) != n or not all(isinstance(v, bool) for v in value)
            or (not trained and any(value))):
        raise _fail(field, f"{n} true or false" + ("" if trained else " (all false: no net was trained)"), value)
    return np.asarray(value, bool)


def _shattered(record: object) -> ShatteredResult:
    r = _table("result", _table("record", record, ("result",))["result"],
               ("depths", "t", "norm", "width", "steps", "gradient", "acf", "train_error", "diverged"))
    n = _size("result.depths", r["depths"], 1, MAX_DEPTH, "depths")
    depths = _ints("result.depths", r["depths"], n, 1, MAX_DEPTH)
    if depths != sorted(set(depths)):
        raise _fail("result.depths", f"increasing depths from 1 to {MAX_DEPTH}", depths)
    p = _size("result.t", r["t"], *POINTS, "positions")
    t = _fractions("result.t", r["t"], (p,))
    if np.any(np.diff(t) <= 0):
        raise _fail("result.t", "increasing positions from 0 to 1", r["t"])
    if r["norm"] not in NORMS:
        raise _fail("result.norm", f"one of {', '.join(NORMS)}", r["norm"])
    width = _int("result.width", r["width"], 2, MAX_MLP_WIDTH)
    steps = _int("result.steps", r["steps"], 0, MAX_STEPS)
    stages = STAGES if steps else STAGES[:1]
    flags = _table("result.diverged", r["diverged"], TWINS)
    diverged = {t: _flags(f"result.diverged.{t}", flags[t], n, bool(steps)) for t in TWINS}
    gradient_in, acf_in = _table("result.gradient", r["gradient"], stages), _table("result.acf", r["acf"], stages)
    # The autocorrelations' draws and lags, read off the first depth at initialisation.
    first = _table("result.acf.init", acf_in["init"], TWINS)["plain"]
    _size("result.acf.init.plain", first, n, n, "rows, one a depth")
    seeds = _size("result.acf.init.plain[0]", first[0], 1, MAX_SEEDS, "draws")
    lags = _size("result.acf.init.plain[0][0]", first[0][0], 2, min(MAX_LAG, p // 4) + 1, "lags")
    gradient, acf = {}, {}
    for stage in stages:
        grads = _table(f"result.gradient.{stage}", gradient_in[stage], TWINS)
        acfs = _table(f"result.acf.{stage}", acf_in[stage], TWINS)
        for twin in TWINS:
            gone = diverged[twin] if stage == "trained" else np.zeros(n, bool)
            where = (stage, twin)
            gradient[where] = _gaps(f"result.gradient.{stage}.{twin}", grads[twin], gone, "training diverged",
                                    (p,), -MAX_NUMBER, MAX_NUMBER, "number(s)")
            acf[where] = _gaps(f"result.acf.{stage}.{twin}", acfs[twin], gone, "training diverged",
                               (seeds if stage == "init" else 1, lags), -1 - ACF_SLACK, 1 + ACF_SLACK,
                               "autocorrelation(s) from -1 to 1")
    errors = _table("result.train_error", r["train_error"], TWINS)
    why = "training diverged" if steps else "no net was trained"
    train_error = {t: _gaps(f"result.train_error.{t}", errors[t], diverged[t] | (not steps), why, (), 0.0, 1.0,
                            "fraction(s) from 0 to 1") for t in TWINS}
    return ShatteredResult(depths, t, gradient, acf, train_error, diverged, r["norm"], width, steps)


def decode(kind: str, record: object, run_ids: tuple[int, int] = (0, 0)) -> Analysis | ShatteredResult:
    """A record read back as the analysis page's result; a ValueError names the first bad field."""
    if kind not in RECORDED_KINDS:
        raise _fail("kind", f"one of {', '.join(RECORDED_KINDS)}", kind)
    if kind == "shattered":
        return _shattered(record)
    return {"lesion": _lesion, "landscape": _landscapes, "attributions": _attributions}[kind](record, run_ids)


def _setting(value: object) -> bool:
    """A number from 0 to 2^31 - 1, a word (a norm's name) or a short list of whole numbers (depths, images)."""
    if isinstance(value, str):
        return len(value) <= MAX_WORD
    if isinstance(value, list):
        return len(value) <= MAX_LIST and all(isinstance(v, int) and _setting(v) for v in value)
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value < 2**31)


def check_params(value: object) -> dict:
    """An analysis's settings: a JSON object of a few named numbers, words or lists of whole numbers."""
    if (not isinstance(value, dict) or len(value) > 16
            or not all(isinstance(k, str) and len(k) <= MAX_WORD for k in value)
            or not all(_setting(v) for v in value.values())):
        raise _fail("params", f"an object of at most 16 named settings (numbers from 0 to 2^31 - 1, words of at "
                              f"most {MAX_WORD} characters, lists of at most {MAX_LIST} whole numbers)", value)
    return value
