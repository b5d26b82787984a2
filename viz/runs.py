"""Figures of recorded runs (the Runs page): curves, block x step heatmaps, block profiles, an HTML report."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import SEQUENTIAL, TEMPLATE, styled, twin_color

EXTRA_COLORS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e")  # for a second run of the same kind


@dataclass(frozen=True)
class RunCurves:
    """One run's loss and error curves, with how to draw them."""

    label: str
    color: str
    steps: np.ndarray  # (S,) iterations
    loss: np.ndarray  # (S,)
    train_error: np.ndarray  # (S,) batch training error
    test_steps: np.ndarray  # (T,)
    test_error: np.ndarray  # (T,)
    dash: str = "solid"


@dataclass(frozen=True)
class HeatGrid:
    """One run's block x step record of a positive quantity."""

    label: str
    steps: np.ndarray  # (S,)
    names: Sequence[str]  # (B,) block names, input to output
    values: np.ndarray  # (S, B)


def run_colors(residual: Sequence[bool]) -> list[str]:
    """A colour per run: the twin colours, and distinct ones for a second run of the same kind."""
    used: set[str] = set()
    colors = []
    spare = iter(EXTRA_COLORS)
    for r in residual:
        c = twin_color(r)
        if c in used:
            c = next(spare, "#555555")
        used.add(c)
        colors.append(c)
    return colors


def _upto(x: np.ndarray, upto: int | None) -> np.ndarray:
    return np.ones(len(x), bool) if upto is None else np.asarray(x) <= upto


def run_curves_figure(runs: Sequence[RunCurves], *, events: Sequence[tuple[int, int | None, bool]] = (),
                      upto: int | None = None, height: int = 420) -> go.Figure:
    """Loss (log scale) and error (training thin, test bold) against iterations, up to step `upto`."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Training loss", "Error"], horizontal_spacing=0.09)
    for r in runs:
        keep, keep_t = _upto(r.steps, upto), _upto(r.test_steps, upto)
        fig.add_trace(go.Scatter(x=r.steps[keep], y=r.loss[keep], mode="lines", name=f"{r.label} loss",
                                 legendgroup=r.label, line=dict(color=r.color, width=2, dash=r.dash)), row=1, col=1)
        fig.add_trace(go.Scatter(x=r.steps[keep], y=100 * r.train_error[keep], mode="lines",
                                 name=f"{r.label} training error", legendgroup=r.label,
                                 line=dict(color=r.color, width=1, dash="dot")), row=1, col=2)
        if len(r.test_steps):
            fig.add_trace(go.Scatter(x=r.test_steps[keep_t], y=100 * r.test_error[keep_t], mode="lines+markers",
                                     name=f"{r.label} test error", legendgroup=r.label,
                                     line=dict(color=r.color, width=4, dash=r.dash)), row=1, col=2)
    for step, block, on in events:
        if upto is None or step <= upto:
            where = "all shortcuts" if block is None else f"shortcut {block}"
            for col in (1, 2):
                fig.add_vline(x=step, line=dict(color="#888", width=1, dash="dash"), row=1, col=col,
                              annotation_text=f"{where} {'on' if on else 'off'}" if col == 2 else None,
                              annotation_font_size=12)
    ends = [float(np.max(r.steps)) for r in runs if len(r.steps)]
    if upto is not None and ends and upto < max(ends):  # the replay cursor
        for col in (1, 2):
            fig.add_vline(x=upto, line=dict(color="#222", width=2), row=1, col=col)
    fig.update_yaxes(type="log", title_text="loss", row=1, col=1)
    losses = np.concatenate([np.asarray(r.loss, dtype=np.float64) for r in runs]) if runs else np.zeros(0)
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.size:  # 1-2-5 ticks: plotly's own crowd a log axis that spans less than a decade
        ticks = log_ticks(float(np.log10(losses.min())), float(np.log10(losses.max())))
        if len(ticks) >= 2:  # else the range is too narrow for 1-2-5 steps: plotly's own ticks are fine
            fig.update_yaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], row=1, col=1)
    fig.update_yaxes(title_text="error (%)", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title_text="iterations")
    if ends:  # the axis keeps the whole run's length while a replay grows into it
        fig.update_xaxes(range=[0, max(ends)])
    fig.update_layout(legend=dict(orientation="h", y=-0.25, yanchor="top", x=0.5, xanchor="center"))
    return styled(fig, height=height)


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.asarray(values, dtype=np.float64))
    out[~np.isfinite(out)] = np.nan  # zeros and NaN are gaps, not a colour
    return out


def _log_span(grids: Sequence[HeatGrid]) -> tuple[float, float] | None:
    logs = np.concatenate([_log10(g.values).ravel() for g in grids]) if grids else np.zeros(0)
    logs = logs[np.isfinite(logs)]
    if not logs.size:
        return None
    lo, hi = float(logs.min()), float(logs.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log10 range [lo, hi]: decades, or 1-2-5 steps when the range spans less than two."""
    first, last = int(np.floor(lo)), int(np.ceil(hi))
    mantissas = (1, 2, 5) if last - first <= 2 else (1,)
    stride = max(1, (last - first) // 8)
    ticks = [m * 10.0**e for e in range(first, last + 1, stride) for m in mantissas]
    return [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]


def heatmaps_figure(grids: Sequence[HeatGrid], *, quantity: str, upto: int | None = None,
                    height: int = 500) -> go.Figure:
    """Block x step heatmaps side by side on one log colour scale (input block at the top)."""
    fig = make_subplots(rows=1, cols=max(1, len(grids)), horizontal_spacing=0.08,
                        subplot_titles=[g.label for g in grids] or None)
    span = _log_span(grids)
    for col, g in enumerate(grids, start=1):
        keep = _upto(g.steps, upto)
        fig.add_trace(go.Heatmap(
            z=_log10(g.values[keep]).T, x=g.steps[keep], y=list(g.names), coloraxis="coloraxis", name=g.label,
            hovertemplate=f"{g.label}<br>%{{y}}<br>iteration %{{x}}<br>{quantity} = 10^%{{z:.2f}}<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(autorange="reversed", type="category", automargin=True,
                         title_text="block (input at top)" if col == 1 else None, row=1, col=col)
        fig.update_xaxes(title_text="iterations", range=[float(g.steps.min()) - 0.5, float(g.steps.max()) + 0.5]
                         if len(g.steps) else None, row=1, col=col)
    if span is not None:
        ticks = log_ticks(*span)
        fig.update_layout(coloraxis=dict(
            colorscale=SEQUENTIAL, cmin=span[0], cmax=span[1],
            colorbar=dict(title=dict(text=f"{quantity}<br>(log scale)"), tickvals=[np.log10(t) for t in ticks],
                          ticktext=[f"{t:.0e}".replace("e+0", "e").replace("e-0", "e-") for t in ticks])))
    else:
        fig.update_layout(coloraxis=dict(colorscale=SEQUENTIAL))
    return styled(fig, title=f"{quantity[0].upper()}{quantity[1:]}, block by iteration", height=height)


@dataclass(frozen=True)
class Profile:
    """One run's value per block at one step."""

    label: str
    color: str
    names: Sequence[str]  # (B,) input to output
    values: np.ndarray  # (B,)


def block_profile_figure(profiles: Sequence[Profile], *, quantity: str, step: int | None = None,
                         log_y: bool = True, height: int = 420) -> go.Figure:
    """One value per block for each run, input to output, at one step."""
    fig = go.Figure()
    for p in profiles:
        fig.add_trace(go.Scatter(x=list(p.names), y=np.asarray(p.values, dtype=np.float64), mode="lines+markers",
                                 name=p.label, line=dict(color=p.color, width=3), marker=dict(size=7),
                                 hovertemplate=f"{p.label}<br>%{{x}}<br>{quantity} = %{{y:.3e}}<extra></extra>"))
    fig.update_xaxes(title_text="block (input → output)", type="category", tickangle=-45, automargin=True)
    fig.update_yaxes(title_text=quantity, type="log" if log_y else "linear", exponentformat="power",
                     automargin=True)
    title = f"{quantity} per block" + ("" if step is None else f" at iteration {step}")
    return styled(fig, title=title, height=height)


def report_html(title: str, figures: Sequence[go.Figure], facts: Sequence[tuple[str, str]] = ()) -> str:
    """A standalone HTML page of `figures` with plotly.js embedded once, so it opens offline."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
             for i, fig in enumerate(figures)]
    font = TEMPLATE.layout.font.family
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>body{{font-family:{font};margin:2em;color:#1f2328}} th{{text-align:left;padding-right:1em}}"
            f"</style></head><body><h1>{html.escape(title)}</h1><table>{rows}</table>"
            + "".join(f"<div>{p}</div>" for p in parts) + "</body></html>")
