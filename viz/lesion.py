"""Lesion-study figures (Veit et al. 2016): accuracy with blocks deleted, plain vs residual."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from viz.theme import PLAIN, RESIDUAL, styled

TWINS = (("plain", PLAIN), ("residual", RESIDUAL))
CHANCE_LINE = dict(color="#666", dash="dot", width=2)


def lesion_bars(block_names: Sequence[str], single: Mapping[str, np.ndarray], intact: Mapping[str, float],
                chance: float, shape_changing: Sequence[int] = ()) -> go.Figure:
    """Test accuracy after deleting each block alone: grouped bars, intact accuracy and chance as lines."""
    fig = go.Figure()
    labels = [f"{name} ↓" if i in shape_changing else name for i, name in enumerate(block_names)]
    for twin, color in TWINS:
        fig.add_bar(x=labels, y=100 * np.asarray(single[twin]), name=f"{twin}", marker_color=color,
                    hovertemplate="delete %{x}: %{y:.1f}% correct<extra>" + twin + "</extra>")
    for twin, color in TWINS:
        reference_line(fig, 100 * intact[twin], f"{twin}, intact: {100 * intact[twin]:.1f}%",
                       dict(color=color, dash="dash", width=2), at=labels[0])
    reference_line(fig, 100 * chance, f"chance: {100 * chance:.0f}%", CHANCE_LINE, at=labels[0])
    fig.update_layout(barmode="group", bargap=0.25, legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                              yanchor="bottom"))
    fig.update_xaxes(title_text="deleted block (↓: the block changes shape)")
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 105])
    return styled(fig, title="Delete one block", height=460)


def lesion_curve(k: np.ndarray, random: Mapping[str, np.ndarray], chance: float) -> go.Figure:
    """Test accuracy after deleting k random blocks: mean over draws, with a band from min to max."""
    fig = go.Figure()
    k = np.asarray(k)
    for twin, color in TWINS:
        acc = 100 * np.asarray(random[twin])  # (K, draws)
        lo, hi, mean = acc.min(axis=1), acc.max(axis=1), acc.mean(axis=1)
        fig.add_scatter(x=np.r_[k, k[::-1]], y=np.r_[hi, lo[::-1]], mode="lines", fill="toself",
                        fillcolor=_alpha(color, 0.18), line=dict(width=0), hoverinfo="skip", showlegend=False,
                        name=f"{twin} range")
        fig.add_scatter(x=k, y=mean, mode="lines+markers", name=twin,
                        line=dict(color=color, width=3), marker=dict(size=7),
                        hovertemplate="%{x} blocks deleted: %{y:.1f}% correct<extra>" + twin + "</extra>")
    reference_line(fig, 100 * chance, f"chance: {100 * chance:.0f}%", CHANCE_LINE, at=k[0] if len(k) else 0)
    fig.update_xaxes(title_text="blocks deleted at random", dtick=1 if len(k) <= 15 else None)
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 105])
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
                      title_subtitle_text="mean over the draws; band: min to max", margin=dict(t=100))
    return styled(fig, title="Delete k blocks at random", height=460)


def reference_line(fig: go.Figure, y: float, name: str, line: dict, *, at: object) -> None:
    """A horizontal line across the plot at `y`, named in the legend: text beside close lines, or over the
    bars, would cover them (intact accuracy and chance are often a few points apart)."""
    fig.add_hline(y=y, line=line)
    # A legend entry only: one point with no value at the axis's first x draws nothing and adds no category.
    fig.add_scatter(x=[at], y=[None], mode="lines", line=line, name=name, hoverinfo="skip")


def _alpha(hex_color: str, alpha: float) -> str:
    """An rgba() string for a #rrggbb colour."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def lesion_text(block_names: Sequence[str], single: Mapping[str, np.ndarray], intact: Mapping[str, float],
                k: np.ndarray, random: Mapping[str, np.ndarray], chance: float, *, margin: float = 0.10) -> list[str]:
    """Sentences that say what the lesion figures show, computed from the same numbers."""
    mean = {t: float(np.mean(single[t])) for t, _ in TWINS}
    lines = [
        f"Deleting one block leaves the residual net {_pct(mean['residual'])} correct on average "
        f"(intact: {_pct(intact['residual'])}) and the plain net {_pct(mean['plain'])} "
        f"(intact: {_pct(intact['plain'])}; chance: {_pct(chance)})."
    ]
    if mean["residual"] > mean["plain"] + margin:
        lines.append("As Veit et al. (2016) found for ResNet-110: a residual net survives losing a block, a plain "
                     "net does not, because every path through a plain net runs through every block.")
    else:
        lines.append(f"Veit et al.'s contrast does not show here: the residual net's average is not {100 * margin:.0f} "
                     "points above the plain net's for this pair.")
    points = f"{100 * margin:.0f} points"
    costly = [f"{block_names[i]} (down to {_pct(a)})" for i, a in enumerate(single["residual"])
              if a < intact["residual"] - margin]
    if costly:
        lines.append(f"Deletions that cost the residual net more than {points}: " + ", ".join(costly) + ".")
    else:
        lines.append(f"No single deletion costs the residual net more than {points}.")
    # A quarter of the blocks: where an ensemble of paths still has most of its paths left.
    i = max(1, round((len(k) - 1) / 4))
    res_k, plain_k = (float(np.mean(random[t][i])) for t in ("residual", "plain"))
    lines.append(f"With {int(k[i])} of {len(block_names)} blocks deleted at random, the residual net averages "
                 f"{_pct(res_k)} and the plain net {_pct(plain_k)}"
                 + (": the residual net degrades gradually, as an ensemble of paths of many lengths would."
                    if res_k > plain_k + margin else "."))
    return lines


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"
