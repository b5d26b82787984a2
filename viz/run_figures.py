"""The figures of a run, live or recorded: heatmaps, block profiles, curves. One set for every page.

Each takes a RunView (viz/runview.py) and returns a go.Figure: the Gradient flow page, the Runs
page, talks and the exports draw a run with these functions and no others. Errors are drawn
in percent everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.logscale import decade_labels, log10, log_range, log_ticks
from viz.runview import Event, NetView, RunView
from viz.theme import SEQUENTIAL, net_dash, styled, twin_color

ROLE_TITLES = {"plain": "Plain", "residual": "Residual"}
EXTRA_COLORS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e")  # a second net of the same kind
STATS = {  # what each statistic is, in words and as a symbol
    "grad_norm": ("gradient norm of each block's weights", "‖∇W‖"),
    "input_grad_norm": ("backward signal ‖dL/dx‖ at each block's input", "‖dL/dx‖"),
    "layer_grad_norm": ("gradient norm of each layer's weight", "‖∇W‖"),
    "act_std": ("std of each block's output", "std"),
    "act_mean": ("mean of each block's output", "mean"),
}


def title_of(role: str, net: NetView) -> str:
    """A panel's title: "Plain" / "Residual" for a pair's roles, else the net's own label."""
    return ROLE_TITLES.get(role, role or net.label)


def net_colors(view: RunView) -> dict[str, str]:
    """A colour per net: the twin colours, and distinct ones for a second net of the same kind."""
    used: set[str] = set()
    spare = iter(EXTRA_COLORS)
    colors = {}
    for role, net in view.nets.items():
        c = twin_color(net.residual)
        if c in used:
            c = next(spare, "#555555")
        used.add(c)
        colors[role] = c
    return colors


def _stat(stat: str) -> tuple[str, str]:
    if stat not in STATS:
        raise ValueError(f"unknown statistic {stat!r}; choose one of: {', '.join(STATS)}")
    return STATS[stat]


def _values(net: NetView, stat: str) -> tuple[np.ndarray, Sequence[str]]:
    return getattr(net, stat), (net.layer_names if stat == "layer_grad_norm" else net.names)


def heatmaps(view: RunView, stat: str = "grad_norm", *, title: str | None = None, height: int = 460) -> go.Figure:
    """Layer x step heatmaps, one per net side by side, on one shared log colour scale (input at the top).

    Shortcut switches are marked on each net's panel; where the store thinned a long record into
    window means, a dotted line says from which step.
    """
    roles = list(view.nets)
    fig = make_subplots(rows=1, cols=max(1, len(roles)), horizontal_spacing=0.08,
                        subplot_titles=[title_of(r, view.nets[r]) for r in roles] or None)
    words, symbol = _stat(stat)
    span = log_range([_values(view.nets[r], stat)[0] for r in roles])
    for col, role in enumerate(roles, start=1):
        net = view.nets[role]
        values, labels = _values(net, stat)
        fig.add_trace(go.Heatmap(
            # float32 and int32: half the bytes a redraw sends, and more precision than a colour shows
            z=log10(values).T.astype(np.float32), x=net.steps.astype(np.int32), y=list(labels),
            coloraxis="coloraxis", name=title_of(role, net),
            hovertemplate=f"{title_of(role, net)}<br>%{{y}}<br>step %{{x}}<br>{symbol} = 10^%{{z:.2f}}<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(autorange="reversed", type="category", automargin=True, row=1, col=col)
        end = max(view.total_steps, int(net.steps.max()) if len(net.steps) else 1)
        fig.update_xaxes(title_text="step", range=[0.5, end + 0.5], row=1, col=col)
        _mark_events(fig, net.events, labels, row=1, col=col)
        if net.thinned_after is not None and len(net.steps) and net.steps.max() > net.thinned_after:
            fig.add_vline(x=net.thinned_after + 0.5, line=dict(color="#bbbbbb", width=1, dash="dot"), row=1, col=col,
                          annotation_text="window means →", annotation_position="bottom right",
                          annotation_font_size=12)
    colorbar = dict(title=dict(text=f"{symbol}<br>(log scale)"))
    if span is not None:
        ticks = log_ticks(*span)
        colorbar.update(tickvals=[float(np.log10(t)) for t in ticks], ticktext=decade_labels(ticks))
    fig.update_layout(coloraxis=dict(colorscale=SEQUENTIAL, cmin=span[0] if span else None,
                                     cmax=span[1] if span else None, colorbar=colorbar))
    return styled(fig, title=title or f"{words[0].upper()}{words[1:]} (input at the top)", height=height)


def _event_label(block: int | None, on: bool, labels: Sequence[str]) -> str:
    where = "all shortcuts" if block is None else (labels[block] if block < len(labels) else f"block {block}")
    return f"{where} {'on' if on else 'off'}"


def _mark_events(fig: go.Figure, events: Sequence[Event], labels: Sequence[str], *, row: int, col: int) -> None:
    for step, block, on in events:
        fig.add_vline(x=step + 0.5, line=dict(color="#00c853" if on else "white", width=2, dash="dash"),
                      annotation_text=_event_label(block, on, labels), annotation_position="top left",
                      annotation_font_size=12, row=row, col=col)


def row_at(net: NetView, step: int | None) -> int | None:
    """The row shown for `step`: the last finite row at or before it (None: the latest finite row)."""
    if step is None:
        return net.last_finite()
    rows = np.flatnonzero(net.steps <= step)
    return int(rows[-1]) if len(rows) else None


def block_profile(view: RunView, stat: str = "grad_norm", *, step: int | None = None, title: str | None = None,
                  height: int = 400) -> go.Figure:
    """One value per block for each net, overlaid, input to output, at `step` (default: the latest)."""
    fig = go.Figure()
    colors = net_colors(view)
    words, symbol = _stat(stat)
    shown = None
    for role, net in view.nets.items():
        row = row_at(net, step)
        if row is None:
            continue
        values, labels = _values(net, stat)
        shown = int(net.steps[row]) if shown is None else max(shown, int(net.steps[row]))
        fig.add_trace(go.Scatter(
            x=list(labels), y=np.asarray(values[row], dtype=np.float64), mode="lines+markers",
            name=title_of(role, net), line=dict(color=colors[role], width=3, dash=net_dash(net.residual)),
            marker=dict(size=7, symbol="circle" if net.residual else "square"),
            hovertemplate=f"{title_of(role, net)}<br>%{{x}}<br>{symbol} = %{{y:.3e}}<extra></extra>"))
    log_y = stat != "act_mean"
    fig.update_xaxes(title_text="block (input → output)", type="category", tickangle=-45, automargin=True,
                     title_standoff=12)
    fig.update_yaxes(title_text=symbol, type="log" if log_y else "linear", exponentformat="power", automargin=True)
    if log_y:
        span = log_range([np.asarray(t.y, dtype=np.float64) for t in fig.data])
        # Every decade on wide ranges, 1-2-5 steps on narrow ones: never a wall of minor labels.
        fig.update_yaxes(dtick=1 if span and span[1] - span[0] > 2 else "D2")
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    at = "" if shown is None else f" at step {shown}"
    return styled(fig, title=title or f"{words[0].upper()}{words[1:]}{at}", height=height)


def curves(view: RunView, *, height: int = 380) -> go.Figure:
    """Training loss (log) and error in percent (training thin, test bold) against step, for each net."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Training loss", "Error (%)"], horizontal_spacing=0.1)
    colors = net_colors(view)
    for role, net in view.nets.items():
        name, color, dash = title_of(role, net), colors[role], net_dash(net.residual)
        fig.add_trace(go.Scatter(x=net.curve_steps, y=net.loss, name=f"{name} loss", mode="lines",
                                 line=dict(color=color, width=2, dash=dash), legendgroup=role), row=1, col=1)
        fig.add_trace(go.Scatter(x=net.curve_steps, y=100 * np.asarray(net.train_error, np.float64),
                                 name=f"{name} training error", mode="lines",
                                 line=dict(color=color, width=1, dash="dot"), legendgroup=role), row=1, col=2)
        if len(net.test_steps):
            fig.add_trace(go.Scatter(x=net.test_steps, y=100 * np.asarray(net.test_error, np.float64),
                                     name=f"{name} test error", mode="lines+markers",
                                     line=dict(color=color, width=4, dash=dash), legendgroup=role), row=1, col=2)
    for step, _block, on in view.events:
        for col in (1, 2):
            fig.add_vline(x=step + 0.5, line=dict(color="#888", width=1, dash="dot" if on else "dash"), row=1, col=col)
    losses = np.concatenate([np.asarray(n.loss, np.float64) for n in view.nets.values()]) if view.nets else []
    losses = np.asarray(losses)[np.isfinite(losses) & (np.asarray(losses) > 0)] if len(losses) else np.zeros(0)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    if losses.size:  # 1-2-5 ticks: plotly's own crowd a log axis that spans less than a decade
        ticks = log_ticks(float(np.log10(losses.min())), float(np.log10(losses.max())))
        if len(ticks) >= 2:
            fig.update_yaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], row=1, col=1)
    fig.update_yaxes(range=[0, 100], ticksuffix="%", row=1, col=2)
    fig.update_xaxes(title_text="step", range=[0, max(view.total_steps, view.step, 1)])
    fig.update_layout(legend=dict(orientation="h", y=-0.25, yanchor="top", x=0.5, xanchor="center"))
    return styled(fig, height=height)


def run_figures(view: RunView, *, layers: bool = False) -> dict[str, go.Figure]:
    """Every figure of a run by name, as the pages show them and the exports write them."""
    return {
        "gradient_heatmap": heatmaps(view, "layer_grad_norm" if layers else "grad_norm"),
        "input_gradient_heatmap": heatmaps(view, "input_grad_norm"),
        "gradient_profile": block_profile(view, "grad_norm"),
        "activation_std": block_profile(view, "act_std"),
        "curves": curves(view),
    }
