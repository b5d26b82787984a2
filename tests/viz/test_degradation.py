"""Figures and sentences of the degradation and runs pages, asserted on fig.data and fig.layout."""

from __future__ import annotations

import numpy as np
import pytest

from viz.degradation import (
    DepthResult,
    ErrorCurve,
    ResponseCurve,
    degradation_text,
    depth_color,
    error_curves_figure,
    error_vs_depth_figure,
    gradient_text,
    response_std_figure,
    responses_text,
    running_mean,
    seed_band,
)
from viz.theme import PLAIN, RESIDUAL


def curve(depth: int, residual: bool, n: int = 400) -> ErrorCurve:
    steps = np.arange(1, n + 1)
    return ErrorCurve(depth, residual, steps, np.full(n, 0.2), np.arange(50, n + 1, 50), np.full(n // 50, 0.3))


def test_error_curves_two_panels_dashed_training_bold_test() -> None:
    curves = [curve(20, False), curve(56, False), curve(20, True), curve(56, True)]
    fig = error_curves_figure(curves)
    assert [a.text for a in fig.layout.annotations][:2] == ["Plain networks", "ResNets"]
    assert len(fig.data) == 8
    train = [t for t in fig.data if t.line.dash == "dash"]
    test = [t for t in fig.data if t.line.dash != "dash"]
    assert len(train) == len(test) == 4
    assert all(t.line.width < u.line.width for t, u in zip(train, test, strict=True))
    assert {t.xaxis for t in fig.data if "plain" in t.legendgroup} == {"x"}
    assert {t.xaxis for t in fig.data if "ResNet" in t.legendgroup} == {"x2"}
    assert np.allclose(test[0].y, 30.0) and np.allclose(train[0].y, 20.0)  # percent
    assert "running mean of 20 batches" in fig.layout.title.subtitle.text
    plain56 = next(t for t in test if t.name == "plain-56")
    assert plain56.line.color == PLAIN  # the deepest net gets the full colour, shallower ones lighter
    assert next(t for t in test if t.name == "plain-20").line.color != PLAIN


def test_short_curves_say_their_training_error_is_per_batch() -> None:
    fig = error_curves_figure([curve(8, False, n=12), curve(8, True, n=12)])
    assert fig.layout.title.subtitle.text == "dashed: training error (per batch) · bold: test error"


def test_depth_colours_lighten_towards_shallow_nets() -> None:
    assert depth_color(True, 110, [20, 56, 110]) == RESIDUAL
    light = depth_color(True, 20, [20, 56, 110])
    assert sum(int(light[i : i + 2], 16) for i in (1, 3, 5)) > sum(int(RESIDUAL[i : i + 2], 16) for i in (1, 3, 5))


def test_running_mean_matches_a_naive_one() -> None:
    v = np.random.default_rng(0).random(57)
    naive = [v[max(0, i - 4) : i + 1].mean() for i in range(57)]
    np.testing.assert_allclose(running_mean(v, 5), naive)
    np.testing.assert_array_equal(running_mean(v, 1), v)


def test_error_vs_depth_means_and_band_over_seeds() -> None:
    results = [DepthResult(20, False, 0.01, 0.05), DepthResult(56, False, 0.20, 0.25),
               DepthResult(56, False, 0.30, 0.35), DepthResult(20, True, 0.0, 0.04), DepthResult(56, True, 0.0, None)]
    fig = error_vs_depth_figure(results)
    by_name = {t.name: t for t in fig.data}
    assert {t.name for t in fig.data if t.mode == "lines+markers"} == {"plain train", "plain test", "ResNet train",
                                                                          "ResNet test"}
    assert list(by_name["plain train"].x) == [20, 56] and by_name["plain train"].y == pytest.approx((1.0, 25.0))
    band = by_name["plain train min–max of 2 seeds"]  # plain-56 has two seeds; the band spans them
    assert band.fill == "tonexty" and band.y == pytest.approx((1.0, 30.0)) and band.showlegend
    assert by_name["plain train min–max of 2 seeds (lower)"].y == pytest.approx((1.0, 20.0))
    assert not [t for t in fig.data if t.name.startswith("ResNet") and "seeds" in t.name]  # one seed: no band
    assert list(by_name["ResNet test"].x) == [20]  # a missing test error is not plotted as zero
    assert by_name["plain train"].line.dash == "dash" and by_name["plain test"].line.width == 4


def test_error_curves_of_several_seeds_are_a_mean_in_a_band() -> None:
    n = 400
    steps = np.arange(1, n + 1)
    seeds = [ErrorCurve(56, False, steps, np.full(n, e), np.arange(50, n + 1, 50), np.full(n // 50, t))
             for e, t in ((0.1, 0.2), (0.3, 0.6), (0.2, 0.4))]
    fig = error_curves_figure([*seeds, curve(20, False)])
    names = [t.name for t in fig.data]
    assert names.count("plain-56 min–max of 3 seeds") == 1 and "plain-56 (mean of 3 seeds)" in names
    test = next(t for t in fig.data if t.name == "plain-56 (mean of 3 seeds)")
    assert np.allclose(test.y, 40.0) and len(test.x) == n // 50
    upper = next(t for t in fig.data if t.name == "plain-56 min–max of 3 seeds")
    lower = fig.data[names.index("plain-56 min–max of 3 seeds") - 1]  # the fill reaches down to the trace before
    assert np.allclose(upper.y, 60.0) and np.allclose(lower.y, 20.0) and upper.fill == "tonexty"
    train = next(t for t in fig.data if t.name == "plain-56 train")
    assert np.allclose(train.y, 20.0)
    train_band = next(t for t in fig.data if t.name == "plain-56 train min–max of 3 seeds")
    assert np.allclose(train_band.y, 30.0) and not train_band.showlegend
    assert "plain-20" in names and not [t for t in names if t.startswith("plain-20") and "seeds" in t]


def test_a_seed_that_stopped_early_shortens_the_band_not_extends_it() -> None:
    x, mean, lo, hi = seed_band([np.arange(1, 11.0), np.arange(1, 6.0)], [np.full(10, 1.0), np.full(5, 3.0)])
    assert list(x) == [1, 2, 3, 4, 5] and np.allclose(mean, 2.0) and np.allclose(lo, 1.0) and np.allclose(hi, 3.0)
    empty = seed_band([np.zeros(0), np.zeros(0)], [np.zeros(0), np.zeros(0)])
    assert all(len(a) == 0 for a in empty)


def test_response_figure_layer_order_and_sorted() -> None:
    std = np.array([0.5, 2.0, 1.0])
    fig = response_std_figure([ResponseCurve(20, False, std), ResponseCurve(20, True, std / 2)])
    assert len(fig.data) == 4
    top = [t for t in fig.data if t.xaxis == "x"]
    bottom = [t for t in fig.data if t.xaxis == "x2"]
    np.testing.assert_allclose(top[0].y, std)
    np.testing.assert_allclose(bottom[0].y, [2.0, 1.0, 0.5])
    assert [t.showlegend for t in top] == [True, True] and not any(t.showlegend for t in bottom)


def test_degradation_sentences_follow_the_numbers() -> None:
    degraded = [DepthResult(20, False, 0.005, 0.1), DepthResult(56, False, 0.24, 0.3),
                DepthResult(20, True, 0.0, 0.1), DepthResult(56, True, 0.007, 0.1)]
    text = " ".join(degradation_text(degraded))
    assert "plain-56 ends at 24.0% training error, plain-20 at 0.5%" in text and "degradation, as in Fig. 1" in text
    assert "ResNet-56's" not in text and "The deeper ResNet is no worse" in text
    assert "clearly below the plain net's" in text
    flat = [DepthResult(20, False, 0.10, 0.1), DepthResult(56, False, 0.11, 0.1)]
    assert "no clear degradation" in degradation_text(flat)[0]
    assert degradation_text([DepthResult(20, False, 0.1, 0.1)]) == []


def test_gradient_sentence_never_claims_vanishing_when_it_did_not() -> None:
    healthy = gradient_text("plain-56", 2000.0)
    assert "does not vanish" in healthy and "unlikely to be caused by vanishing gradients" in healthy
    assert "2e+03×" in healthy
    assert "vanishes" in gradient_text("plain-50", 1e-11)
    assert "shrinks" in gradient_text("plain-50", 0.01)
    assert "No gradient record" in gradient_text("plain-50", float("nan"))


def test_response_figure_of_several_seeds_is_a_mean_in_a_band() -> None:
    a, b = np.array([1.0, 3.0, 2.0]), np.array([3.0, 1.0, 2.0])
    fig = response_std_figure([ResponseCurve(20, True, a), ResponseCurve(20, True, b)])
    left = [t for t in fig.data if t.xaxis == "x"]
    right = [t for t in fig.data if t.xaxis == "x2"]
    mean = next(t for t in left if t.name == "ResNet-20 (mean of 2 seeds)")
    np.testing.assert_allclose(mean.y, [2.0, 2.0, 2.0])
    band = next(t for t in left if t.name == "ResNet-20 min–max of 2 seeds")
    np.testing.assert_allclose(band.y, [3.0, 3.0, 2.0])
    np.testing.assert_allclose(left[left.index(band) - 1].y, [1.0, 1.0, 2.0])
    # Sorted first, seed by seed: both seeds sort to (3, 2, 1), so the band closes on the mean.
    sorted_band = next(t for t in right if t.name == "ResNet-20 min–max of 2 seeds")
    np.testing.assert_allclose(sorted_band.y, [3.0, 2.0, 1.0])
    assert not sorted_band.showlegend
    assert "mean std 2.00" in " ".join(responses_text([ResponseCurve(20, True, a), ResponseCurve(20, True, b),
                                                       ResponseCurve(20, False, 2 * a)]))


def test_response_sentences() -> None:
    curves = [ResponseCurve(20, False, np.array([1.0, 1.2])), ResponseCurve(20, True, np.array([0.5, 0.6])),
              ResponseCurve(56, True, np.array([0.3, 0.4]))]
    text = responses_text(curves)
    assert text[0].startswith("Depth 20: the ResNet's responses (mean std 0.55) are smaller than the plain net's")
    assert "Deeper ResNets have smaller responses still (ResNet-20 0.55, ResNet-56 0.35)" in text[1]

    def deeper(*stds: float) -> str:
        curves = [ResponseCurve(d, True, np.array([v])) for d, v in zip((8, 14, 20), stds, strict=True)]
        return responses_text(curves)[-1]

    # Smaller from the shallowest to the deepest, but 1.08 to 1.04 is within the 5% margin: smaller overall.
    assert deeper(1.25, 1.08, 1.04).startswith("Deeper ResNets have smaller responses overall, though not clearly")
    assert deeper(1.0, 1.02, 0.99).startswith("Deeper ResNets do not have smaller responses here")
    assert deeper(1.0, 1.1, 1.3).startswith("Deeper ResNets have larger responses here, unlike Fig. 7")
    flipped = [ResponseCurve(20, False, np.array([0.5])), ResponseCurve(20, True, np.array([1.0]))]
    assert "larger than" in responses_text(flipped)[0] and "unlike Fig. 7" in responses_text(flipped)[0]

