"""Figures of the gradient-flow page: twin heatmaps on one log colour scale, block profiles, curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import SEQUENTIAL, styled, twin_color

TWIN_TITLES = {"plain": "Plain", "residual": "Residual"}


@dataclass(frozen=True)
class Grid:
    """One twin's layer x step record: rows are steps, columns are blocks or layers."""

    steps: np.ndarray  # (S,)
    values: np.ndarray  # (S, B) positive magnitudes (norms or stds)
    names: Sequence[str]  # (B,) block or layer names, input to output


@dataclass(frozen=True)
class Curves:
    """One twin's training curves."""

    steps: np.ndarray  # (S,)
    loss: np.ndarray  # (S,)
    train_error: np.ndarray  # (S,)
    test_steps: np.ndarray  # (T,)
    test_error: np.ndarray  # (T,)


def log_range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """Shared log10 colour range over the positive finite values of every array (None if there are none)."""
    logs = [np.log10(a[np.isfinite(a) & (a > 0)]) for a in arrays]
    logs = [x for x in logs if x.size]
    if not logs:
        return None
    both = np.concatenate(logs)
    lo, hi = float(both.min()), float(both.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values.astype(np.float64))
    out[~np.isfinite(out)] = np.nan  # zeros and NaN show as gaps, not as a colour
    return np.round(out, 3)


def _decade_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    first, last = int(np.floor(lo)), int(np.ceil(hi))
    stride = max(1, (last - first) // 8)
    vals = list(range(first, last + 1, stride))
    return vals, [f"1e{v}" for v in vals]


def twin_heatmaps(grids: Mapping[str, Grid], *, title: str, quantity: str,
                  events: Sequence[tuple[int, int | None, bool]] = (), height: int = 460) -> go.Figure:
    """Layer x step heatmaps, one per twin side by side, on one shared log colour scale.

    `events` (step, block or None, on) mark shortcut switches on the residual panel.
    """
    names = [n for n in ("plain", "residual") if n in grids]
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=False, horizontal_spacing=0.08,
                        subplot_titles=[TWIN_TITLES[n] for n in names])
    span = log_range([grids[n].values for n in names])
    for col, name in enumerate(names, start=1):
        g = grids[name]
        labels = list(g.names)
        fig.add_trace(go.Heatmap(
            z=_log10(g.values).T, x=g.steps, y=labels, colorscale=SEQUENTIAL,
            zmin=span[0] if span else None, zmax=span[1] if span else None,
            coloraxis="coloraxis", name=TWIN_TITLES[name],
            hovertemplate=f"{TWIN_TITLES[name]}<br>%{{y}}<br>step %{{x}}<br>{quantity} = 10^%{{z:.2f}}<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(autorange="reversed", type="category", automargin=True, row=1, col=col)
        fig.update_xaxes(title_text="step", row=1, col=col)
        if name == "residual":
            _mark_events(fig, events, labels, row=1, col=col)
    ticks = _decade_ticks(*span) if span else ([], [])
    fig.update_layout(coloraxis=dict(
        colorscale=SEQUENTIAL, cmin=span[0] if span else None, cmax=span[1] if span else None,
        colorbar=dict(title=dict(text=f"{quantity}<br>(log scale)"), tickvals=ticks[0], ticktext=ticks[1])))
    return styled(fig, title=title, height=height)


def _event_label(block: int | None, on: bool, labels: Sequence[str]) -> str:
    where = "all shortcuts" if block is None else (labels[block] if block < len(labels) else f"block {block}")
    return f"{where} {'on' if on else 'off'}"


def _mark_events(fig: go.Figure, events, labels, *, row: int, col: int) -> None:
    for step, block, on in events:
        fig.add_vline(x=step, line=dict(color="white" if not on else "#00c853", width=2, dash="dash"),
                      annotation_text=_event_label(block, on, labels), annotation_position="top left",
                      annotation_font_size=12, row=row, col=col)


def block_profile(values: Mapping[str, np.ndarray], names: Sequence[str], *, title: str, y_title: str,
                  log_y: bool = True, height: int = 400) -> go.Figure:
    """One value per block for each twin, overlaid, input to output (a clearer plot_grad_flow)."""
    fig = go.Figure()
    for name, v in values.items():
        fig.add_trace(go.Scatter(
            x=list(names), y=np.asarray(v, dtype=np.float64), mode="lines+markers", name=TWIN_TITLES[name],
            line=dict(color=twin_color(name == "residual"), width=3), marker=dict(size=6),
            hovertemplate=f"{TWIN_TITLES[name]}<br>%{{x}}<br>{y_title} = %{{y:.3e}}<extra></extra>",
        ))
    fig.update_xaxes(title_text="block (input → output)", type="category", tickangle=-45, automargin=True,
                     title_standoff=12)
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear", exponentformat="power")
    if log_y:
        span = log_range([np.asarray(v, dtype=np.float64) for v in values.values()])
        # Label every decade on wide ranges, 1-2-5 steps on narrow ones: never a wall of minor labels.
        fig.update_yaxes(dtick=1 if span and span[1] - span[0] > 2 else "D2")
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return styled(fig, title=title, height=height)


def training_curves(curves: Mapping[str, Curves], *, events: Sequence[tuple[int, int | None, bool]] = (),
                    height: int = 380) -> go.Figure:
    """Loss (log) and error (training thin, test bold) against step for both twins."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Training loss", "Error"], horizontal_spacing=0.1)
    for name, c in curves.items():
        color = twin_color(name == "residual")
        label = TWIN_TITLES[name]
        fig.add_trace(go.Scatter(x=c.steps, y=c.loss, name=f"{label} loss", mode="lines",
                                 line=dict(color=color, width=2), legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=c.steps, y=c.train_error, name=f"{label} training error", mode="lines",
                                 line=dict(color=color, width=1, dash="dot"), legendgroup=name), row=1, col=2)
        if len(c.test_steps):
            fig.add_trace(go.Scatter(x=c.test_steps, y=c.test_error, name=f"{label} test error",
                                     mode="lines+markers", line=dict(color=color, width=4),
                                     legendgroup=name), row=1, col=2)
    for step, _block, on in events:
        for col in (1, 2):
            fig.add_vline(x=step, line=dict(color="#888", width=1, dash="dash" if not on else "dot"), row=1, col=col)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text="step")
    return styled(fig, height=height)
