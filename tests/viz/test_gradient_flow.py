"""Gradient-flow figures, checked on their data and layout."""

from __future__ import annotations

import numpy as np
import pytest

from viz.gradient_flow import Curves, Grid, block_profile, log_range, training_curves, twin_heatmaps
from viz.theme import PLAIN, RESIDUAL

NAMES = ["block0", "block1", "block2"]


def grids() -> dict[str, Grid]:
    steps = np.arange(4)
    plain = np.array([[1e-12, 1e-6, 1e-2]] * 4, dtype=np.float32)
    res = np.array([[1e-2, 2e-2, 3e-2]] * 4, dtype=np.float32)
    return {"plain": Grid(steps, plain, NAMES), "residual": Grid(steps, res, NAMES)}


def test_log_range_spans_both_twins_and_skips_zeros_and_nan() -> None:
    lo, hi = log_range([np.array([1e-12, 0.0, np.nan]), np.array([1e-2, np.inf])])
    assert lo == pytest.approx(-12) and hi == pytest.approx(-2)
    assert log_range([np.zeros(3)]) is None


def test_twin_heatmaps_share_one_log_colour_scale() -> None:
    fig = twin_heatmaps(grids(), title="t", quantity="‖∇W‖")
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert all(t.coloraxis == "coloraxis" for t in fig.data)
    axis = fig.layout.coloraxis
    assert axis.cmin == pytest.approx(-12) and axis.cmax == pytest.approx(np.log10(3e-2))
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)  # blocks x steps
    assert z[0, 0] == pytest.approx(-12) and z[2, 0] == pytest.approx(-2)
    assert list(fig.data[0].y) == NAMES and fig.layout.yaxis.autorange == "reversed"
    assert "10^%{z:.2f}" in fig.data[0].hovertemplate and "%{y}" in fig.data[0].hovertemplate


def test_zero_norms_are_gaps_not_colours() -> None:
    g = grids()
    g["plain"].values[0, 0] = 0.0
    z = np.asarray(twin_heatmaps(g, title="t", quantity="q").data[0].z, dtype=float)
    assert np.isnan(z[0, 0])


def test_shortcut_events_are_marked_on_the_residual_panel() -> None:
    fig = twin_heatmaps(grids(), title="t", quantity="q", events=[(2, 1, False), (3, None, True)])
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [s.x0 for s in lines] == [2, 3]
    assert all(s.xref == "x2" for s in lines)
    texts = [a.text for a in fig.layout.annotations]
    assert "block1 off" in texts and "all shortcuts on" in texts


def test_block_profile_overlays_twins_on_a_log_axis() -> None:
    fig = block_profile({"plain": [1e-12, 1e-6, 1e-2], "residual": [1, 2, 3]}, NAMES, title="t", y_title="g")
    assert [t.name for t in fig.data] == ["Plain", "Residual"]
    assert [t.line.color for t in fig.data] == [PLAIN, RESIDUAL]
    assert fig.layout.yaxis.type == "log" and list(fig.data[0].x) == NAMES


def test_training_curves_draw_loss_and_both_errors() -> None:
    c = Curves(np.arange(3), np.array([2.0, 1.0, 0.5]), np.array([0.9, 0.5, 0.1]), np.array([2]), np.array([0.2]))
    fig = training_curves({"plain": c, "residual": c}, events=[(1, 0, False)])
    names = [t.name for t in fig.data]
    assert names == ["Plain loss", "Plain training error", "Plain test error",
                     "Residual loss", "Residual training error", "Residual test error"]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.tickformat == ".0%"
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 2


def test_log_profile_labels_decades_on_wide_ranges_only() -> None:
    wide = block_profile({"plain": [1e-12, 1e-6, 1e-2]}, NAMES, title="t", y_title="g")
    narrow = block_profile({"plain": [0.5, 1.0, 2.0]}, NAMES, title="t", y_title="g")
    assert wide.layout.yaxis.dtick == 1 and narrow.layout.yaxis.dtick == "D2"
