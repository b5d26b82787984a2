"""The analysis figures and sentences: plain data in, figures and words that match the numbers out."""

from __future__ import annotations

import numpy as np
import pytest

from viz.attributions import attribution_maps, attribution_text, block_share_bars, completeness_text
from viz.landscape import (
    landscape_contours,
    landscape_line,
    landscape_surfaces,
    landscape_text,
    local_minima,
    shared_log_range,
)
from viz.lesion import lesion_bars, lesion_curve, lesion_text
from viz.shattered import autocorrelation_curves, gradient_traces, lag1_vs_depth, shattered_text
from viz.theme import PLAIN, RESIDUAL

NAMES = ["stage1.0", "stage2.0", "stage3.0"]


def bowl(n: int = 9, scale: float = 1.0) -> np.ndarray:
    a = np.linspace(-1, 1, n)
    return 0.01 + scale * (a[None, :] ** 2 + a[:, None] ** 2)


def test_lesion_bars_group_both_twins_in_percent_with_reference_lines() -> None:
    fig = lesion_bars(NAMES, {"plain": np.array([0.1, 0.2, 0.3]), "residual": np.array([0.9, 0.5, 0.95])},
                      {"plain": 0.97, "residual": 0.98}, chance=0.1, shape_changing=[1, 2])
    assert [t.type for t in fig.data] == ["bar", "bar", "scatter", "scatter", "scatter"]
    assert [t.marker.color for t in fig.data[:2]] == [PLAIN, RESIDUAL]
    assert list(fig.data[1].y) == pytest.approx([90, 50, 95])
    assert list(fig.data[0].x) == ["stage1.0", "stage2.0 ↓", "stage3.0 ↓"]
    assert [s.y0 for s in fig.layout.shapes] == pytest.approx([97, 98, 10])  # intact plain, residual, chance
    # Named in the legend, in the lines' own styles, and no text on the plot to cover bars or each other.
    names = [t.name for t in fig.data[2:]]
    assert names == ["plain, intact: 97.0%", "residual, intact: 98.0%", "chance: 10%"]
    assert [t.line.dash for t in fig.data[2:]] == [s.line.dash for s in fig.layout.shapes]
    assert all(list(t.y) == [None] for t in fig.data[2:]) and not fig.layout.annotations


def test_lesion_curve_draws_a_band_and_a_mean_per_twin() -> None:
    k = np.arange(4)
    random = {"plain": np.array([[1, 1], [0.1, 0.3], [0.1, 0.1], [0.1, 0.1]]),
              "residual": np.array([[1, 1], [0.9, 0.7], [0.5, 0.6], [0.2, 0.2]])}
    fig = lesion_curve(k, random, chance=0.1)
    fills = [t for t in fig.data if t.fill == "toself"]
    means = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(fills) == 2 and len(means) == 2
    assert list(means[1].y) == pytest.approx([100, 80, 55, 20])
    assert list(fills[0].y) == pytest.approx([100, 30, 10, 10, 10, 10, 10, 100])  # max forward, min back


def test_lesion_text_reports_the_contrast_only_when_it_is_there() -> None:
    args = dict(block_names=NAMES, intact={"plain": 0.97, "residual": 0.98}, k=np.arange(4), chance=0.1)
    random = {"plain": np.full((4, 2), 0.1), "residual": np.full((4, 2), 0.6)}
    strong = lesion_text(single={"plain": np.array([0.1, 0.1, 0.1]), "residual": np.array([0.95, 0.5, 0.96])},
                         random=random, **args)
    assert "95%" not in strong[0] and "80%" in strong[0] and "10%" in strong[0]
    assert "Veit et al. (2016) found" in strong[1]
    assert "stage2.0 (down to 50%)" in strong[2]
    assert "With 1 of 3 blocks deleted at random, the residual net averages 60%" in strong[3]
    assert "degrades gradually" in strong[3]
    weak = lesion_text(single={"plain": np.array([0.9, 0.9, 0.9]), "residual": np.array([0.95, 0.9, 0.9])},
                       random=random, **args)
    assert "does not show here" in weak[1]


def test_contours_share_one_log_colour_scale_and_tolerate_rows_still_computing() -> None:
    plain, residual = bowl(scale=10.0), bowl()
    plain[5:] = np.nan  # rows not computed yet
    loss = {"plain": plain, "residual": residual}
    fig = landscape_contours(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9), loss)
    contours = [t for t in fig.data if t.type == "contour"]
    assert len(contours) == 2
    lo, hi = shared_log_range(loss)
    assert all(c.zmin == lo and c.zmax == hi for c in contours)
    assert lo == pytest.approx(np.log10(0.01)) and hi == pytest.approx(np.log10(np.nanmax(plain)))
    assert np.isnan(np.asarray(contours[0].z, float)[6]).all()
    assert shared_log_range({"plain": np.full((2, 2), np.nan), "residual": np.full((2, 2), np.nan)}) == (0.0, 1.0)


def test_surfaces_and_the_line_use_the_same_scales() -> None:
    loss = {"plain": bowl(scale=3.0), "residual": bowl()}
    fig = landscape_surfaces(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9), loss)
    surfaces = [t for t in fig.data if t.type == "surface"]
    assert len(surfaces) == 2 and surfaces[0].cmin == surfaces[1].cmin and surfaces[0].cmax == surfaces[1].cmax
    assert fig.layout.scene.zaxis.range == fig.layout.scene2.zaxis.range
    line = landscape_line(np.linspace(-1, 1, 5), {"plain": np.ones((1, 5)), "residual": np.ones((1, 5))},
                          {"plain": np.ones((1, 5)), "residual": np.full((1, 5), 0.5)})
    assert fig.layout.scene.zaxis.title.text == "log10 loss"
    assert line.layout.yaxis.type == "log" and list(line.data[3].y) == pytest.approx([50] * 5)


def test_local_minima_count_basins() -> None:
    assert local_minima(bowl()) == 1
    a = np.linspace(-2, 2, 21)
    two = np.minimum((a[None, :] - 1) ** 2, (a[None, :] + 1) ** 2 + 0.1) + a[:, None] ** 2
    assert local_minima(two) == 2


def test_landscape_text_says_when_the_published_contrast_does_not_appear() -> None:
    loss = {"plain": bowl(21), "residual": bowl(21)}
    errors = {"plain": 0.02, "residual": 0.02}
    shallow = landscape_text(loss, num_classes=10, depth=20, test_error=errors)
    assert "single smooth basins" in shallow[2] and "56" in shallow[2] and len(shallow) == 3
    deep = landscape_text(loss, num_classes=10, depth=56, test_error=errors)
    assert "does not show" in deep[2]
    assert "0.01 (plain)" in shallow[0]
    assert "1 (plain), 1 (residual)" in shallow[1]


def test_landscape_text_describes_a_rugged_plateau_when_there_is_one() -> None:
    a = np.linspace(-2, 2, 21)
    rugged = 1.0 + 0.3 * np.sin(5 * a)[None, :] * np.sin(5 * a)[:, None] + 0.2 * a[None, :] ** 2
    text = landscape_text({"plain": rugged, "residual": bowl(21)}, num_classes=10, depth=56,
                          test_error={"plain": 0.25, "residual": 0.02})
    assert "rugged" in text[2]
    assert "high plateau" in text[3] and "25.0% vs 2.0%" in text[3]


def test_block_share_bars_and_their_sentences() -> None:
    share = {"plain": np.array([0.98, 1.0, 0.97]), "residual": np.array([0.4, 0.2, 0.6])}
    fig = block_share_bars(NAMES, share)
    assert [t.name for t in fig.data] == ["plain", "residual"] and list(fig.data[1].y) == pytest.approx([.4, .2, .6])
    text = attribution_text(share, NAMES, 32)
    assert "0.97 to 1.00" in text[0] and "32 integration steps" in text[0]
    assert "0.20 to 0.60" in text[1] and "stage3.0" in text[1]
    assert "within 2.0%" in completeness_text({"plain": np.array([10.0]), "residual": np.array([5.0])},
                                              {"plain": np.array([0.2]), "residual": np.array([-0.05])})


def test_attribution_maps_put_both_twins_of_an_image_on_one_scale() -> None:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 16, 16))
    ig = {"plain": rng.standard_normal((2, 16, 16)), "residual": 3 * rng.standard_normal((2, 16, 16))}
    sal = {"plain": np.abs(ig["plain"]), "residual": np.abs(ig["residual"])}
    fig = attribution_maps(images, ig, sal, [3, 7], {"plain": [3, 1], "residual": [3, 7]}, [0, 4])
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 10
    ig_row0 = [np.abs(np.asarray(heatmaps[i].z)).max() for i in (1, 2)]
    assert max(ig_row0) == pytest.approx(1.0) and min(ig_row0) < 1.0  # scaled together, not each to 1
    assert fig.layout.coloraxis2.cmin == -1 and fig.layout.coloraxis2.cmax == 1


def test_shattered_figures() -> None:
    depths = [2, 10, 50]
    t = np.linspace(0, 1, 64)
    gradient = {"plain": np.random.default_rng(0).standard_normal((3, 64)),
                "residual": np.sin(6 * t)[None].repeat(3, 0)}
    traces = gradient_traces(t, depths, gradient, stage="init")
    assert len(traces.data) == 6
    assert np.std(np.asarray(traces.data[0].y, float)) == pytest.approx(1.0)  # each trace scaled to unit sd
    lag1 = {("init", "plain"): np.array([0.9, 0.5, 0.0]), ("init", "residual"): np.array([0.99, 0.98, 0.95]),
            ("trained", "plain"): np.array([0.95, 0.6, 0.1]), ("trained", "residual"): np.array([0.99, 0.99, 0.97])}
    fig = lag1_vs_depth(depths, lag1)
    assert len(fig.data) == 4 and fig.layout.xaxis.type == "log"
    assert {t.line.dash for t in fig.data} == {"solid", "dash"}
    acf = autocorrelation_curves(np.arange(3), {("init", "plain"): np.array([1, 0.1, 0.0]),
                                                ("init", "residual"): np.array([1, 0.9, 0.8])}, depth=50)
    assert len(acf.data) == 2


def test_shattered_text_follows_the_numbers() -> None:
    depths = [2, 50]
    errors = {"plain": np.array([0.01, 0.6]), "residual": np.array([0.01, 0.02])}
    diverged = {"plain": np.array([False, False]), "residual": np.array([False, True])}
    noisy = {("init", "plain"): np.array([0.9, 0.02]), ("init", "residual"): np.array([0.99, 0.95]),
             ("trained", "plain"): np.array([0.9, 0.1]), ("trained", "residual"): np.array([0.99, np.nan])}
    text = shattered_text(depths, noisy, norm="batch", train_error=errors, diverged=diverged)
    assert "0.02 for the plain net and 0.95" in text[0]
    assert "shattered into noise" in text[1]
    assert "60.0%" in text[2]
    assert "residual at depth 50" in text[3]
    mild = {("init", "plain"): np.array([0.9, 0.7]), ("init", "residual"): np.array([0.99, 0.99])}
    text = shattered_text(depths, mild, norm="none", train_error=errors, diverged=diverged)
    assert "not yet white noise" in text[1] and len(text) == 2
