"""Shattered-gradient figures (Balduzzi et al. 2017): gradients along a line of inputs, and their
autocorrelation against lag and against depth, plain vs residual."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import PLAIN, RESIDUAL, styled

TWINS = (("plain", PLAIN), ("residual", RESIDUAL))
STAGE_NAMES = {"init": "at initialisation", "trained": "after training"}
# Four entries do not fit beside the title of a half-width chart: put them under the plot.
LEGEND_BELOW = dict(orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top")


def gradient_traces(t: np.ndarray, depths: Sequence[int], gradient: Mapping[str, np.ndarray], *,
                    stage: str) -> go.Figure:
    """One row per depth, plain left and residual right: g(t) scaled to unit standard deviation."""
    fig = make_subplots(rows=len(depths), cols=2, shared_xaxes=True, vertical_spacing=0.03,
                        horizontal_spacing=0.05, column_titles=[t for t, _ in TWINS])
    for r, depth in enumerate(depths, start=1):
        for c, (twin, color) in enumerate(TWINS, start=1):
            g = np.asarray(gradient[twin][r - 1], float)
            scale = np.nanstd(g)
            fig.add_scatter(x=t, y=g / scale if np.isfinite(scale) and scale > 0 else g, mode="lines",
                            line=dict(color=color, width=1.6), showlegend=False, name=f"{twin}, depth {depth}",
                            hovertemplate="t %{x:.3f}: %{y:.2f} sd<extra>" + f"{twin}-{depth}" + "</extra>",
                            row=r, col=c)
        fig.update_yaxes(title_text=f"depth {depth}", showticklabels=False, row=r, col=1)
        fig.update_yaxes(showticklabels=False, row=r, col=2)
    fig.update_xaxes(title_text="position t along the input segment", row=len(depths))
    return styled(fig, title=f"d output / dt along the segment, {STAGE_NAMES[stage]} (each trace scaled to unit sd)",
                  height=130 + 110 * len(depths))


def autocorrelation_curves(lags: np.ndarray, acf: Mapping[tuple[str, str], np.ndarray], *, depth: int) -> go.Figure:
    """Autocorrelation against lag at one depth: at initialisation (solid) and after training (dashed)."""
    fig = go.Figure()
    for stage, dash in (("init", "solid"), ("trained", "dash")):
        for twin, color in TWINS:
            if (stage, twin) not in acf:
                continue
            curve = np.asarray(acf[(stage, twin)], float)
            fig.add_scatter(x=lags, y=curve, mode="lines+markers", line=dict(color=color, dash=dash, width=3),
                            marker=dict(size=6), name=f"{twin}, {STAGE_NAMES[stage]}",
                            hovertemplate="lag %{x}: %{y:.2f}<extra></extra>")
    fig.add_hline(y=0.0, line=dict(color="#444", width=1))
    fig.update_xaxes(title_text="lag (points along the segment)")
    fig.update_yaxes(title_text="autocorrelation of the gradient", range=[-0.4, 1.05])
    fig.update_layout(legend=LEGEND_BELOW, margin=dict(b=150))
    return styled(fig, title=f"Autocorrelation against lag, depth {depth}", height=500)


def lag1_vs_depth(depths: Sequence[int], lag1: Mapping[tuple[str, str], np.ndarray]) -> go.Figure:
    """Lag-1 autocorrelation against depth: white noise sits at 0, a smooth gradient near 1."""
    fig = go.Figure()
    for stage, dash in (("init", "solid"), ("trained", "dash")):
        for twin, color in TWINS:
            if (stage, twin) not in lag1:
                continue
            fig.add_scatter(x=list(depths), y=np.asarray(lag1[(stage, twin)], float), mode="lines+markers",
                            line=dict(color=color, dash=dash, width=3), marker=dict(size=9),
                            name=f"{twin}, {STAGE_NAMES[stage]}",
                            hovertemplate="depth %{x}: %{y:.2f}<extra></extra>")
    fig.add_hline(y=0.0, line=dict(color="#444", width=1), annotation_text="white noise",
                  annotation_position="bottom left")
    fig.update_xaxes(title_text="depth (blocks)", type="log", tickvals=list(depths), ticktext=[str(d) for d in depths])
    fig.update_yaxes(title_text="lag-1 autocorrelation", range=[-0.4, 1.05])
    fig.update_layout(legend=LEGEND_BELOW, margin=dict(b=150))
    return styled(fig, title="How the gradient's correlation decays with depth", height=500)


def shattered_text(depths: Sequence[int], lag1: Mapping[tuple[str, str], np.ndarray], *, norm: str,
                   train_error: Mapping[str, np.ndarray], diverged: Mapping[str, np.ndarray]) -> list[str]:
    """Sentences on what the shattered-gradient figures show, from the same numbers."""
    deep = len(depths) - 1
    p, r = (float(np.asarray(lag1[("init", t)])[deep]) for t in ("plain", "residual"))
    lines = [f"At initialisation, depth {depths[deep]}: the gradient's lag-1 autocorrelation is {_r(p)} for the "
             f"plain net and {_r(r)} for the residual net (1: smooth, 0: white noise)."]
    if p < 0.2 <= r:
        lines.append("The plain net's gradient has shattered into noise; the residual net's has not: "
                     "Balduzzi et al.'s (2017) finding.")
    elif p < r - 0.05:
        lines.append("The plain net's gradient is rougher than the residual net's, but not yet white noise at this "
                     "depth" + (" without BN: He-initialised ReLU stacks shatter slowly here; with BN they "
                                "shatter within 20 layers (switch normalisation)." if norm == "none" else "."))
    else:
        lines.append("At these depths the plain and residual gradients are about equally smooth for this setting.")
    if ("trained", "plain") in lag1:
        tp, tr = (float(np.asarray(lag1[("trained", t)])[deep]) for t in ("plain", "residual"))
        lines.append(f"After training: {_r(tp)} (plain) and {_r(tr)} (residual) at depth {depths[deep]}; training "
                     f"error {_fraction(train_error['plain'][deep])} and "
                     f"{_fraction(train_error['residual'][deep])}.")
        failed = [f"{t} at depth {d}" for t in ("plain", "residual") for d, bad in zip(depths, diverged[t], strict=True)
                  if bad]
        if failed:
            lines.append("Training diverged for " + ", ".join(failed) + " (no trained curve for these).")
    return lines


def _r(x: float) -> str:
    """Two decimals, without a minus sign on a value that rounds to zero."""
    return f"{x:.2f}".replace("-0.00", "0.00")


def _fraction(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"
