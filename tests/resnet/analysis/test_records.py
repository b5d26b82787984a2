"""Attributions and shattered-gradients records: small real results read back as they were, every hostile field
refused with its name."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from resnet.analysis import jobs
from resnet.analysis.jobs import PairSource
from resnet.analysis.records import check_params, decode, encode
from resnet.analysis.results import ShatteredResult
from resnet.analysis.shattered import shattered_study
from resnet.store import RunStore
from tests.helpers import record_small_pair

TWINS = ("plain", "residual")


@pytest.fixture(scope="module")
def attributed(tmp_path_factory: pytest.TempPathFactory):
    """Attributions of a small CNN pair on digits (with pixel maps) and of a small MLP pair on spirals (without)."""
    store = RunStore(tmp_path_factory.mktemp("records") / "runs.db")
    out = {}
    for family in ("cnn", "mlp"):
        plain, residual = record_small_pair(store, family=family, steps=4)
        source = PairSource(str(store.path), plain_id=plain, residual_id=residual, device="cpu")
        out[family] = jobs.attributions(source, samples=4, n_steps=4, indices=(0, 3))
    return out


@pytest.fixture(scope="module")
def study() -> ShatteredResult:
    """A shattered-gradients study of two depths, two draws at initialisation and a few training steps."""
    return shattered_study((2, 3), width=8, norm="batch", points=64, seeds=2, steps=10)


def through_json(kind: str, value, run_ids=(0, 0)):
    """`value` encoded, written as JSON text, read back and decoded, as the store does."""
    return decode(kind, json.loads(json.dumps(encode(kind, value))), run_ids)


def test_attributions_read_back_as_computed(attributed) -> None:
    done = attributed["cnn"]
    back = through_json("attributions", done, done.pair.run_ids)
    assert back.pair == done.pair
    b, m = back.result.blocks, back.result.inputs
    assert (b.block_names, b.samples, b.n_steps) == (done.result.blocks.block_names, 4, 4)
    original = done.result.inputs
    assert (m.indices, m.labels, m.predicted) == (original.indices, original.labels, original.predicted)
    assert m.images.shape == original.images.shape == (2, 16, 16)
    for twin in TWINS:  # float32 numbers, kept to float32's precision
        np.testing.assert_array_equal(b.share[twin].astype(np.float32), done.result.blocks.share[twin])
        for name in ("integrated_gradients", "saliency", "delta", "output_change"):
            np.testing.assert_array_equal(getattr(m, name)[twin].astype(np.float32), getattr(original, name)[twin])
    np.testing.assert_array_equal(m.images.astype(np.float32), original.images)


def test_attributions_without_images_read_back_without_maps(attributed) -> None:
    back = through_json("attributions", attributed["mlp"])
    assert back.result.inputs is None and not back.pair.is_image
    np.testing.assert_allclose(back.result.blocks.share["residual"], attributed["mlp"].result.blocks.share["residual"],
                               rtol=1e-6)


def test_a_shattered_study_reads_back_as_computed(study: ShatteredResult) -> None:
    back = through_json("shattered", study)
    assert (back.depths, back.norm, back.width, back.steps) == ([2, 3], "batch", 8, 10)
    assert set(back.acf) == set(study.acf) == {(s, t) for s in ("init", "trained") for t in TWINS}
    np.testing.assert_allclose(back.t, study.t)
    for key in study.acf:
        assert back.acf[key].shape == study.acf[key].shape
        np.testing.assert_allclose(back.acf[key], study.acf[key], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(back.gradient[key].astype(np.float32), study.gradient[key].astype(np.float32))
        np.testing.assert_allclose(back.lag1(*key), study.lag1(*key), rtol=1e-6, atol=1e-7)
    for twin in TWINS:
        np.testing.assert_allclose(back.train_error[twin], study.train_error[twin])
        assert not back.diverged[twin].any()


def test_a_diverged_net_and_an_untrained_study_keep_their_gaps(study: ShatteredResult) -> None:
    # As shattered_study leaves a net whose training diverged: flagged, its trained rows and error NaN.
    trained = {k: v.copy() for k, v in study.gradient.items()}
    acf = {k: v.copy() for k, v in study.acf.items()}
    trained[("trained", "plain")][1], acf[("trained", "plain")][1] = np.nan, np.nan
    diverged = {"plain": np.array([False, True]), "residual": np.array([False, False])}
    error = {"plain": np.array([study.train_error["plain"][0], np.nan]), "residual": study.train_error["residual"]}
    broken = dataclasses.replace(study, gradient=trained, acf=acf, diverged=diverged, train_error=error)
    record = encode("shattered", broken)
    assert record["result"]["gradient"]["trained"]["plain"][1] is None
    back = decode("shattered", json.loads(json.dumps(record)))
    assert np.isnan(back.acf[("trained", "plain")][1]).all() and np.isfinite(back.acf[("trained", "plain")][0]).all()
    assert back.diverged["plain"].tolist() == [False, True] and np.isnan(back.train_error["plain"][1])
    untrained = shattered_study((2,), width=8, norm="none", points=64, seeds=1, steps=0)
    back = through_json("shattered", untrained)
    assert set(back.acf) == {("init", "plain"), ("init", "residual")} and np.isnan(back.train_error["plain"]).all()


def hostile_attributions() -> list:
    return [
        (lambda r: r["result"]["blocks"]["share"]["plain"].__setitem__(1, float("nan")),
         "result.blocks.share.plain[1]: expected one finite number"),
        (lambda r: r["result"]["blocks"]["share"]["residual"].append(0.5), "result.blocks.share.residual: expected 3"),
        (lambda r: r["result"]["blocks"].update(n_steps="many"), "result.blocks.n_steps: expected an integer"),
        (lambda r: r["result"]["blocks"].update(samples=10**6), "result.blocks.samples: expected an integer from 1"),
        (lambda r: r["result"]["blocks"].update(block_names=["b"] * 5000), "result.blocks.block_names"),
        (lambda r: r["result"]["inputs"].update(indices=list(range(10**5))), "result.inputs.indices: expected a list"),
        (lambda r: r["result"]["inputs"]["indices"].__setitem__(0, 10**6), "result.inputs.indices[0]"),
        (lambda r: r["result"]["inputs"]["labels"].__setitem__(1, 10), "result.inputs.labels[1]: expected an integer"),
        (lambda r: r["result"]["inputs"]["images"].__setitem__(0, [[0.0] * 100] * 100), "result.inputs.images[0]"),
        (lambda r: r["result"]["inputs"]["images"][1][2].__setitem__(3, "dark"), "result.inputs.images[1][2][3]"),
        (lambda r: r["result"]["inputs"]["saliency"]["plain"][0][0].__setitem__(0, -1.0),
         "result.inputs.saliency.plain[0][0][0]: expected"),
        (lambda r: r["result"]["inputs"]["integrated_gradients"]["residual"].pop(),
         "result.inputs.integrated_gradients.residual: expected 2 x 16 x 16"),
        (lambda r: r["result"]["inputs"]["delta"].pop("plain"), "result.inputs.delta: expected an object"),
        (lambda r: r["result"]["inputs"]["predicted"].update(plain=[True, 1]), "result.inputs.predicted.plain[0]"),
        (lambda r: r["result"].update(inputs=None), "result.inputs: expected an object with exactly"),
    ]


@pytest.mark.parametrize(("change", "field"), hostile_attributions())
def test_every_field_of_an_attributions_record_is_checked(attributed, change, field: str) -> None:
    record = json.loads(json.dumps(encode("attributions", attributed["cnn"])))
    change(record)
    with pytest.raises(ValueError) as err:
        decode("attributions", record)
    assert str(err.value).startswith(field), str(err.value)


def test_pixel_maps_of_data_without_images_are_refused(attributed) -> None:
    record = encode("attributions", attributed["mlp"])
    record["result"]["inputs"] = copy.deepcopy(encode("attributions", attributed["cnn"])["result"]["inputs"])
    with pytest.raises(ValueError, match=r"^result.inputs: expected null \(the pair's data are not images\)"):
        decode("attributions", record)


def hostile_studies() -> list:
    return [
        (lambda r: r["result"].update(depths=list(range(1, 500))), "result.depths: expected a list of 1 to 100"),
        (lambda r: r["result"].update(depths=[3, 2]), "result.depths: expected increasing depths"),
        (lambda r: r["result"].update(depths=[2, 300]), "result.depths[1]: expected an integer from 1 to 100"),
        (lambda r: r["result"].update(norm="layer"), "result.norm: expected one of batch, none"),
        (lambda r: r["result"].update(width="wide"), "result.width: expected an integer"),
        (lambda r: r["result"]["t"].reverse(), "result.t: expected increasing positions"),
        (lambda r: r["result"]["gradient"]["init"]["plain"][0].__setitem__(5, float("inf")),
         "result.gradient.init.plain[0][5]: expected one finite number"),
        (lambda r: r["result"]["gradient"]["trained"]["residual"].pop(),
         "result.gradient.trained.residual: expected a list of 2 rows"),
        (lambda r: r["result"]["gradient"]["init"]["residual"][1].pop(),
         "result.gradient.init.residual[1]: expected 64 finite"),
        (lambda r: r["result"]["acf"]["init"]["plain"][1][0].__setitem__(2, 1.5),
         "result.acf.init.plain[1][0][2]: expected one finite autocorrelation"),
        (lambda r: r["result"]["acf"]["init"]["residual"][0].pop(), "result.acf.init.residual[0]: expected 2 x 17"),
        (lambda r: r["result"]["acf"]["init"]["plain"][0].extend([[0.0] * 17] * 30),
         "result.acf.init.plain[0]: expected a list of 1 to 16 draws"),
        (lambda r: r["result"]["acf"].pop("trained"), "result.acf: expected an object with exactly init, trained"),
        (lambda r: r["result"]["train_error"]["plain"].__setitem__(0, None), "result.train_error.plain[0]"),
        (lambda r: r["result"]["diverged"]["plain"].__setitem__(0, True), "result.gradient.trained.plain[0]: expected "
                                                                          "null (training diverged)"),
        (lambda r: r["result"]["diverged"].update(residual=[0, 1]), "result.diverged.residual: expected 2 true or"),
        (lambda r: r["result"].update(steps=0), "result.gradient: expected an object with exactly init"),
        (lambda r: r.update(pair={}), "record: expected an object with exactly result"),
    ]


@pytest.mark.parametrize(("change", "field"), hostile_studies())
def test_every_field_of_a_shattered_record_is_checked(study: ShatteredResult, change, field: str) -> None:
    record = json.loads(json.dumps(encode("shattered", study)))
    change(record)
    with pytest.raises(ValueError) as err:
        decode("shattered", record)
    assert str(err.value).startswith(field), str(err.value)


@pytest.mark.parametrize("params", [
    {"depths": [2, 5, 10], "norm": "batch", "width": 64},
    {"samples": 32, "n_steps": 32, "indices": [0, 1, 2, 3], "seed": 7},
])
def test_settings_may_be_words_and_short_lists(params: dict) -> None:
    assert check_params(params) == params


@pytest.mark.parametrize("params", [
    {"depths": list(range(101))},
    {"depths": [[1, 2]]},
    {"depths": [1.5]},
    {"indices": [True]},
    {"norm": "x" * 41},
    {"seed": -1},
    {"seed": float("nan")},
])
def test_settings_beyond_words_and_short_lists_are_refused(params: dict) -> None:
    with pytest.raises(ValueError, match="^params: expected an object of at most 16 named settings"):
        check_params(params)

