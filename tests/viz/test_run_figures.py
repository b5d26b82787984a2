"""The one set of run figures, checked on their data and layout from RunViews built in the test."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from viz.logscale import log_range, log_ticks
from viz.report import report_html
from viz.run_figures import block_profile, curves, event_marks, heatmaps, net_colors, run_figures
from viz.runview import NetView, RunView, empty_net, sample, shortcuts_at
from viz.theme import PLAIN, RESIDUAL

NAMES = ["block0", "block1", "block2"]


def net(label: str, residual: bool, values, *, steps=None, loss=None, events=(), thinned_after=None) -> NetView:
    """A net whose every block statistic is `values` (S, B) and whose curves fall steadily."""
    values = np.asarray(values, dtype=np.float32)
    s = len(values)
    steps = np.arange(1, s + 1) if steps is None else np.asarray(steps)
    loss = np.linspace(2, 0.1, s) if loss is None else np.asarray(loss)
    return NetView(label=label, residual=residual, names=NAMES, layer_names=["l0", "l1"], steps=steps,
                   grad_norm=values, input_grad_norm=values * 2, act_mean=values, act_std=values,
                   layer_grad_norm=np.ones((s, 2)), curve_steps=steps, loss=loss,
                   train_error=np.linspace(0.9, 0.0, s), test_steps=steps[::2],
                   test_error=np.linspace(0.8, 0.1, s)[::2],
                   events=list(events), shortcuts=[residual] * 3, thinned_after=thinned_after)


def twins(**kwargs) -> RunView:
    plain = net("plain-3", False, [[1e-12, 1e-6, 1e-2]] * 4)
    res = net("res-3", True, [[1e-2, 2e-2, 3e-2]] * 4, **kwargs)
    return RunView(nets={"plain": plain, "residual": res}, step=4, total_steps=10)


def test_log_range_spans_every_array_and_skips_zeros_and_nan() -> None:
    lo, hi = log_range([np.array([1e-12, 0.0, np.nan]), np.array([1e-2, np.inf])])
    assert lo == pytest.approx(-12) and hi == pytest.approx(-2)
    assert log_range([np.zeros(3)]) is None
    assert log_ticks(-1, np.log10(2)) == [0.1, 0.2, 0.5, 1.0, 2.0]


def test_heatmaps_share_one_log_colour_scale() -> None:
    fig = heatmaps(twins())
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    axis = fig.layout.coloraxis
    assert axis.cmin == pytest.approx(-12) and axis.cmax == pytest.approx(np.log10(3e-2))
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)  # blocks x steps
    assert z[0, 0] == pytest.approx(-12) and z[2, 0] == pytest.approx(-2)
    assert list(fig.data[0].y) == NAMES and fig.layout.yaxis.autorange == "reversed"
    assert [a.text for a in fig.layout.annotations][:2] == ["Plain", "Residual"]
    assert fig.layout.xaxis.range == (0.5, 10.5)  # the axis keeps the run's length while it fills in


def test_zero_norms_are_gaps_not_colours() -> None:
    view = twins()
    view.nets["plain"].grad_norm[0, 0] = 0.0
    assert np.isnan(np.asarray(heatmaps(view).data[0].z, dtype=float)[0, 0])


def test_each_statistic_draws_its_own_rows() -> None:
    view = twins()
    assert np.allclose(heatmaps(view, "input_grad_norm").data[1].z, np.log10([[2e-2], [4e-2], [6e-2]]), atol=1e-3)
    layers = heatmaps(view, "layer_grad_norm")
    assert list(layers.data[0].y) == ["l0", "l1"]
    with pytest.raises(ValueError, match="unknown statistic 'loss'"):
        heatmaps(view, "loss")


def test_shortcut_switches_are_marked_on_the_panel_of_the_net_that_switched() -> None:
    fig = heatmaps(twins(events=[(2, 1, False), (3, None, True)]))
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [s.x0 for s in lines] == [2.5, 3.5] and {s.xref for s in lines} == {"x2"}
    texts = [a.text for a in fig.layout.annotations]
    assert "block1 off" in texts and "all shortcuts on" in texts


def test_switches_at_one_step_make_one_mark_per_direction() -> None:
    # A scripted cut of a range, or the pills of several blocks in one redraw: one line, one label.
    names = [f"b{i}" for i in range(40)]
    events = [(5, i, False) for i in range(10, 31)] + [(5, 2, True), (9, 3, False), (9, 7, False), (12, None, True)]
    assert event_marks(events, names) == [(5, False, "b10–b30 off"), (5, True, "b2 on"), (9, False, "2 shortcuts off"),
                                          (12, True, "all shortcuts on")]
    fig = heatmaps(twins(events=[(2, b, False) for b in range(3)] * 20))
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].x0 == 2.5 and lines[0].xref == "x2" and lines[0].yref == "y2 domain"
    assert "block0–block2 off" in [a.text for a in fig.layout.annotations]
    assert len(curves(twins(events=[(2, b, False) for b in range(3)] * 20)).layout.shapes) == 2  # one per panel


def test_panels_put_each_net_on_its_own_axes() -> None:
    fig = heatmaps(twins())
    assert [(t.xaxis, t.yaxis) for t in fig.data] == [("x", "y"), ("x2", "y2")]
    left, right = fig.layout.xaxis.domain, fig.layout.xaxis2.domain
    assert left[0] == 0 and right[1] == pytest.approx(1) and right[0] - left[1] == pytest.approx(0.08)
    assert fig.layout.yaxis2.anchor == "x2" and fig.layout.yaxis2.autorange == "reversed"
    c = curves(twins())
    assert {t.yaxis for t in c.data if "error" in t.name} == {"y2"} and c.layout.yaxis.type == "log"


def test_twins_name_their_shared_rows_once_and_different_rows_keep_their_labels() -> None:
    fig = heatmaps(twins())
    assert fig.layout.yaxis.showticklabels and fig.layout.yaxis2.showticklabels is False
    assert list(fig.data[1].y) == NAMES  # the hover still names the row
    deeper = dataclasses.replace(net("res-4", True, [[1e-2] * 4] * 4), names=[*NAMES, "block3"], shortcuts=[True] * 4)
    view = RunView(nets={"plain": twins().nets["plain"], "other": deeper}, step=4, total_steps=10)
    assert heatmaps(view).layout.yaxis2.showticklabels


def test_a_thinned_stretch_is_marked() -> None:
    fig = heatmaps(twins(thinned_after=2))
    assert any(a.text == "window means →" for a in fig.layout.annotations)
    assert not any(a.text == "window means →" for a in heatmaps(twins()).layout.annotations)


def test_block_profile_overlays_the_nets_with_colour_and_line_style() -> None:
    fig = block_profile(twins())
    assert [t.name for t in fig.data] == ["Plain", "Residual"]
    assert [t.line.color for t in fig.data] == [PLAIN, RESIDUAL]
    assert [t.line.dash for t in fig.data] == ["dash", "solid"]  # told apart without hue too
    assert fig.layout.yaxis.type == "log" and list(fig.data[0].x) == NAMES
    assert fig.layout.yaxis.dtick == 1 and "at step 4" in fig.layout.title.text
    narrow = RunView(nets={"residual": twins().nets["residual"]}, step=4, total_steps=4)
    assert block_profile(narrow).layout.yaxis.dtick == "D2"


def test_block_profile_skips_a_diverged_nets_nan_rows() -> None:
    view = twins()
    view.nets["residual"].grad_norm[3] = np.nan
    fig = block_profile(view)
    assert "at step 4" in fig.layout.title.text  # the plain net is at step 4
    assert np.allclose(fig.data[1].y, [1e-2, 2e-2, 3e-2])  # the residual net's last finite row (step 3)


def test_curves_draw_loss_and_both_errors_in_percent() -> None:
    fig = curves(twins(events=[(1, 0, False)]))
    assert [t.name for t in fig.data] == ["Plain loss", "Plain training error", "Plain test error",
                                          "Residual loss", "Residual training error", "Residual test error"]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.ticksuffix == "%"
    assert max(fig.data[1].y) == pytest.approx(90.0)  # 0.9 as a fraction is 90 %
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 2
    assert list(fig.layout.yaxis.tickvals) == [0.1, 0.2, 0.5, 1.0, 2.0]


def test_replay_cursor_cuts_every_series_and_the_switches() -> None:
    view = twins(events=[(1, 2, False), (3, None, False)]).upto(2)
    res = view.nets["residual"]
    assert list(res.steps) == [1, 2] and list(res.curve_steps) == [1, 2] and list(res.test_steps) == [1]
    assert res.events == [(1, 2, False)] and res.shortcuts == [True, True, False]
    assert view.step == 2
    fig = curves(view)
    assert max(fig.data[0].x) == 2


def test_shortcuts_at_replays_the_switches() -> None:
    events = [(5, 1, False), (10, None, False), (20, 0, True)]
    assert shortcuts_at(3, True, events, 4) == [True, True, True]
    assert shortcuts_at(3, True, events, 12) == [False, False, False]
    assert shortcuts_at(3, True, events, 20) == [True, False, False]
    assert shortcuts_at(2, False, [], 3) == [False, False]


def test_sample_keeps_the_first_and_last() -> None:
    picked = sample(10_000, 600)
    assert len(picked) <= 600 and picked[0] == 0 and picked[-1] == 9_999
    assert list(sample(5, 600)) == [0, 1, 2, 3, 4]


def test_a_net_with_no_rows_draws_empty_axes_with_its_block_names() -> None:
    view = RunView(nets={"plain": empty_net("plain-3", False, NAMES), "residual": empty_net("res-3", True, NAMES)},
                   step=0, total_steps=10)
    assert not view.started
    fig = heatmaps(view)
    assert [list(t.y) for t in fig.data] == [NAMES, NAMES]


def test_second_net_of_the_same_kind_gets_its_own_colour() -> None:
    a, b = twins().nets["residual"], twins().nets["residual"]
    colors = net_colors(RunView(nets={"#1 res-3": a, "#2 res-3": b}, step=4, total_steps=4))
    assert colors["#1 res-3"] == RESIDUAL and colors["#2 res-3"] not in (RESIDUAL, PLAIN)


def test_report_is_standalone_html() -> None:
    figs = list(run_figures(twins()).values())
    page = report_html("Run #1: res-20 <test>", figs, [("model", "CNN depth 20")])
    assert page.startswith("<!DOCTYPE html>") and "Run #1: res-20 &lt;test&gt;" in page
    # plotly.js is embedded (megabytes), no script is fetched: it opens offline.
    assert not re.findall(r"<script[^>]*\bsrc=", page) and len(page) > 1_000_000
    assert page.count('class="plotly-graph-div"') == len(figs) == 5
    assert "<td>CNN depth 20</td>" in page
