"""Properties of the model and training knobs over bounded random draws (hypothesis), on small shapes.

Every valid combination builds and trains with a finite loss, or stops as diverged; every invalid
value of a knob, with the rest valid, raises a ValueError whose message names that knob.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet.data import DATASETS, IMAGE_DATASETS, OFFLINE
from resnet.layers import ACTS, NORMS
from resnet.nets import BLOCKS, MAX_CNN_WIDTH, MAX_MLP_DEPTH, MAX_MLP_WIDTH, valid_cnn_depths
from resnet.shortcuts import SHORTCUTS, ZERO_PADS
from resnet.trainer import FAMILIES, MAX_BATCH, MAX_STEPS, OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, train
from resnet.zoo import MAX_INPUT_SIZE, MIN_INPUT_SIZE, SWITCHABLE, TORCHVISION_MODELS


def examples(n: int) -> settings:
    """`n` examples; the autouse store fixture is per test, not per example, and nothing here writes a store."""
    return settings(max_examples=n, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def small_configs(draw, *, archs: bool = False) -> dict:
    """A valid config as TrainConfig.to_dict gives it, sized to train a step in milliseconds; `archs`:
    torchvision nets too (not trained here: they take seconds a step)."""
    family = draw(st.sampled_from(FAMILIES))
    block = draw(st.sampled_from(tuple(BLOCKS)))
    arch, input_size = (draw(st.sampled_from(("", *TORCHVISION_MODELS))) if archs and family == "cnn" else ""), 0
    if arch:
        input_size = draw(st.sampled_from((0, MIN_INPUT_SIZE, MAX_INPUT_SIZE)))
    if family == "cnn":
        depth = draw(st.sampled_from(valid_cnn_depths(block)[:2]))  # one or two units a stage
        width, dataset = draw(st.integers(1, 4)), "digits"  # the offline image set
    else:
        depth, width, dataset = draw(st.integers(1, 4)), draw(st.integers(1, 8)), draw(st.sampled_from(OFFLINE))
    norm = draw(st.sampled_from(NORMS))
    model = {"family": family, "depth": depth, "residual": draw(st.booleans()) or arch not in SWITCHABLE,
             "block": block, "shortcut": draw(st.sampled_from(SHORTCUTS)), "preact": draw(st.booleans()),
             "norm": norm, "act": draw(st.sampled_from(ACTS)), "width": width,
             "zero_pad": draw(st.sampled_from(ZERO_PADS)), "arch": arch, "input_size": input_size}
    return TrainConfig().to_dict() | {
        "model": model, "dataset": dataset, "optimizer": draw(st.sampled_from(OPTIMIZERS)),
        "lr": draw(st.floats(0, 1e4, exclude_min=True)), "momentum": draw(st.floats(0, 0.999)),
        "weight_decay": draw(st.floats(0, 1)), "schedule": draw(st.sampled_from(SCHEDULES)),
        "warmup_steps": draw(st.integers(0, MAX_STEPS)),
        "batch_size": draw(st.integers(2 if _needs_two(model) else 1, 32)),
        "seed": draw(st.integers(0, 2**31 - 1)), "device": "cpu", "test_every": draw(st.integers(1, MAX_STEPS)),
    }


def _needs_two(model: dict) -> bool:
    """Whether batch norm sees one value per channel at batch size 1 (an MLP's, a torchvision net's 1x1 maps)."""
    return bool(model["arch"]) or (model["family"] == "mlp" and model["norm"] == "batch")


@examples(40)
@given(config=small_configs(), steps=st.integers(1, 2))
def test_every_valid_config_trains_with_a_finite_loss_or_diverges(config: dict, steps: int) -> None:
    result = train(TrainConfig.from_dict(config), steps=steps)
    assert result.status in ("finished", "diverged"), result.message
    if result.status == "finished":
        assert result.steps == steps and np.isfinite(result.loss).all()
        # A huge lr can overflow a gradient while the loss stays finite: the probe records it as it is.
        assert result.history.steps.tolist() == list(range(steps))
    else:
        assert result.diverged_at == result.steps - 1 and not math.isfinite(result.loss[-1])
        assert "diverged" in result.message


def _not_in(choices) -> st.SearchStrategy:
    """Anything but one of `choices`: other strings, numbers, None, a list."""
    return st.one_of(st.text(max_size=12).filter(lambda s: s not in choices), st.integers(), st.floats(),
                     st.none(), st.booleans(), st.lists(st.sampled_from(choices), min_size=1, max_size=2))


def _not_int_in(lo: int, hi: int, *, also: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """An integer outside [lo, hi], a float (even a whole one), a numeral string, None or a bool."""
    wrong = [st.integers(max_value=lo - 1), st.integers(min_value=hi + 1),
             st.integers(lo, hi).map(float), st.floats(allow_nan=True), st.integers(lo, hi).map(str),
             st.none(), st.booleans()]
    return st.one_of(*wrong, *([also] if also is not None else []))


def _not_float_in(lo: float, hi: float, *, lo_open: bool) -> st.SearchStrategy:
    """A number outside the range, NaN or an infinity, a numeral string, None or a bool."""
    below = st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False)
    return st.one_of(below, st.floats(min_value=hi, exclude_min=True), st.sampled_from([math.nan, -math.inf]),
                     st.floats(lo, hi, exclude_min=lo_open).map(str), st.none(), st.booleans())


NOT_A_FLAG = st.one_of(st.integers(), st.text(max_size=6), st.none(), st.floats())


def invalid_values(knob: str, config: dict) -> st.SearchStrategy:
    """Values of `knob` that `config` (valid) must refuse."""
    model = config["model"]
    cnn, arch = model["family"] == "cnn", model["arch"]
    cnn_depths = valid_cnn_depths(model["block"])
    sizes = (_not_int_in(MIN_INPUT_SIZE, MAX_INPUT_SIZE).filter(lambda v: not (type(v) is int and v == 0)) if arch
             else _not_int_in(0, 0))  # 0 is the arch's default; without an arch every other size is wrong
    return {
        "family": _not_in(FAMILIES) | (st.just("mlp") if arch else st.nothing()),
        "block": _not_in(tuple(BLOCKS)), "shortcut": _not_in(SHORTCUTS),
        "norm": _not_in(NORMS), "act": _not_in(ACTS), "zero_pad": _not_in(ZERO_PADS),
        "residual": NOT_A_FLAG | (st.just(False) if arch and arch not in SWITCHABLE else st.nothing()),
        "preact": NOT_A_FLAG, "amp": NOT_A_FLAG, "channels_last": NOT_A_FLAG,
        "depth": (_not_int_in(1, cnn_depths[-1], also=st.integers(1, cnn_depths[-1]).filter(
            lambda d: d not in cnn_depths)) if cnn else _not_int_in(1, MAX_MLP_DEPTH)),
        "width": _not_int_in(1, MAX_CNN_WIDTH if cnn else MAX_MLP_WIDTH),
        "arch": st.one_of(st.text(min_size=1, max_size=12).filter(lambda s: s not in TORCHVISION_MODELS),
                          st.integers(), st.none(), st.booleans()),
        "input_size": sizes,
        "dataset": _not_in(DATASETS) | (st.sampled_from(sorted(set(DATASETS) - set(IMAGE_DATASETS)))
                                        if cnn else st.nothing()),
        "optimizer": _not_in(OPTIMIZERS), "schedule": _not_in(SCHEDULES),
        "device": _not_in(("auto", "cuda", "mps", "cpu")),
        "lr": _not_float_in(0.0, 1e4, lo_open=True), "momentum": _not_float_in(0.0, 0.999, lo_open=False),
        "weight_decay": _not_float_in(0.0, 1.0, lo_open=False),
        "warmup_steps": _not_int_in(0, MAX_STEPS), "batch_size": _not_int_in(2 if _needs_two(model) else 1, MAX_BATCH),
        "seed": _not_int_in(0, 2**31 - 1), "test_every": _not_int_in(1, MAX_STEPS),
    }[knob]


MODEL_KNOBS = ("family", "depth", "residual", "block", "shortcut", "preact", "norm", "act", "width", "zero_pad",
               "arch", "input_size")
TRAIN_KNOBS = ("dataset", "optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_steps", "batch_size",
               "seed", "device", "test_every", "amp", "channels_last")


def knob_named(knob: str) -> str:
    """How a message names `knob`: its field name, its words ("weight decay"), or "data set"."""
    return "data ?set" if knob == "dataset" else knob.replace("_", "[ _]")


@examples(150)
@given(data=st.data())
def test_an_invalid_knob_raises_a_value_error_naming_it(data) -> None:
    config = data.draw(small_configs(archs=True), label="valid config")
    knob = data.draw(st.sampled_from(MODEL_KNOBS + TRAIN_KNOBS), label="knob")
    value = data.draw(invalid_values(knob, config), label="value")
    where = config["model"] if knob in MODEL_KNOBS else config
    where[knob] = value
    with pytest.raises(ValueError, match=re.compile(knob_named(knob), re.IGNORECASE)):
        TrainConfig.from_dict(config)


@examples(20)
@given(config=small_configs(), steps=_not_int_in(1, MAX_STEPS))
def test_invalid_steps_raise_a_value_error_naming_them(config: dict, steps) -> None:
    with pytest.raises(ValueError, match="steps"):
        Trainer(TrainConfig.from_dict(config), total_steps=steps)


@examples(30)
@given(config=small_configs(archs=True))
def test_a_config_survives_its_dict_form(config: dict) -> None:
    built = TrainConfig.from_dict(config)
    assert built.to_dict() == config and TrainConfig.from_dict(built.to_dict()) == built
