"""Setups as URL query parameters: round trips, and a warning for every bad value."""

from __future__ import annotations

import pytest

from resnet.presets import PRESETS, get_preset
from resnet.query import CUSTOM, Setup, setup_from_query, setup_to_query


@pytest.mark.parametrize("slug", sorted(PRESETS))
def test_every_preset_round_trips(slug: str) -> None:
    setup = setup_from_query({"preset": slug})
    assert (setup.preset, setup.config, setup.steps, setup.warnings) == (
        slug, PRESETS[slug].config, PRESETS[slug].steps, [])
    again = setup_from_query(setup_to_query(setup))
    assert (again.preset, again.config, again.steps, again.warnings) == (slug, setup.config, setup.steps, [])


def test_custom_setup_round_trips_every_knob() -> None:
    config = get_preset("bn-explodes").config.replace(
        depth=20, width=4, block="basic", shortcut="C", preact=True, norm="batch", act="tanh",
        dataset="digits", optimizer="adam", lr=0.003, batch_size=16, seed=7, momentum=0.8, weight_decay=5e-4,
        schedule="cosine", test_every=PRESETS["vanishing"].config.test_every)
    query = setup_to_query(Setup(CUSTOM, config, 123))
    assert query["shortcut"] == "C" and query["preact"] == "true" and query["lr"] == "0.003"
    back = setup_from_query(query)
    assert (back.preset, back.config, back.steps, back.warnings) == (CUSTOM, config, 123, [])


def test_changing_a_preset_knob_makes_the_setup_custom() -> None:
    setup = setup_from_query({"preset": "vanishing", "depth": "20"})
    assert setup.preset == CUSTOM and setup.config.model.depth == 20 and not setup.warnings


def test_seed_argument_sets_the_seed_but_keeps_the_preset() -> None:
    setup = setup_from_query({"preset": "vanishing"}, seed=5)
    assert setup.preset == "vanishing" and setup.config.seed == 5


def test_bad_values_fall_back_with_one_warning_each() -> None:
    setup = setup_from_query({"preset": "nope", "lr": "abc", "preact": "maybe", "colour": "red",
                              "batch": "0", "steps": "-3"})
    text = "\n".join(setup.warnings)
    assert len(setup.warnings) == 6
    assert "unknown preset 'nope'" in text and "vanishing, relu-explodes" in text
    assert "lr='abc'" in text
    assert "preact='maybe'" in text and "true or false" in text
    assert "unknown setting 'colour'" in text
    assert "batch='0'" in text and "batch size must be between 1 and" in text
    assert "steps='-3'" in text
    assert setup.preset == "vanishing" and setup.config == PRESETS["vanishing"].config


def test_knobs_that_depend_on_each_other_are_applied_together() -> None:
    setup = setup_from_query({"preset": "custom", "family": "cnn", "dataset": "digits", "block": "bottleneck",
                              "depth": "29"})
    assert (setup.config.model.family, setup.config.model.block, setup.config.model.depth) == ("cnn", "bottleneck", 29)
    assert not setup.warnings


def test_values_that_cannot_fit_are_refused_and_the_rest_kept() -> None:
    setup = setup_from_query({"preset": "vanishing", "family": "cnn", "dataset": "digits", "depth": "21"})
    assert setup.config.model.family == "cnn" and setup.config.dataset == "digits"
    assert setup.config.model.depth == 50  # 50 = 6n+2 with n = 8, kept from the preset
    assert setup.warnings == ["ignored depth='21': depth 21 is not 6n+2 for basic blocks; try 20 or 26"]


def test_a_zoo_model_opens_from_a_link_and_round_trips() -> None:
    setup = setup_from_query({"preset": "custom", "arch": "resnet18", "input_size": "32", "dataset": "digits",
                              "batch": "32", "steps": "50"})
    assert not setup.warnings
    model = setup.config.model
    assert (model.arch, model.input_size, model.family, model.residual) == ("resnet18", 32, "cnn", True)
    assert (setup.config.batch_size, setup.steps) == (32, 50)
    # The default preset is an MLP on spirals: an arch starts from a CNN on image data instead.
    assert PRESETS["vanishing"].config.dataset == "spirals" and setup.config.dataset == "digits"
    query = setup_to_query(setup)
    assert (query["arch"], query["input_size"]) == ("resnet18", "32")
    back = setup_from_query(query)
    assert (back.config, back.steps, back.warnings) == (setup.config, 50, [])


@pytest.mark.parametrize(("query", "says"), [
    ({"arch": "resnet19"}, "ignored arch='resnet19': unknown arch"),
    ({"arch": "densenet121"}, "ignored arch='densenet121': its skips are concatenations"),
    ({"arch": "resnet18", "input_size": "8"}, "ignored input_size='8': input_size must be between 32"),
    ({"arch": "resnet18", "input_size": "big"}, "ignored input_size='big'"),
    ({"input_size": "64"}, "ignored input_size='64': input_size applies to an arch"),
])
def test_bad_zoo_values_fall_back_with_one_warning_each(query: dict[str, str], says: str) -> None:
    setup = setup_from_query({"preset": "custom", **query})
    assert len(setup.warnings) == 1 and setup.warnings[0].startswith(says)
    assert setup.config.model.input_size == 0
    assert setup.config.model.arch == ("resnet18" if query.get("arch") == "resnet18" else "")
