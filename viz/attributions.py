"""Attribution figures: how much of a prediction each block's F carries, and pixel maps of both twins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import DIVERGING, PLAIN, RESIDUAL, SEQUENTIAL, styled

TWINS = (("plain", PLAIN), ("residual", RESIDUAL))


def block_share_bars(block_names: Sequence[str], share: Mapping[str, np.ndarray]) -> go.Figure:
    """Per block, the share of the target logit's change carried through F: grouped bars, 1 = all of it."""
    fig = go.Figure()
    for twin, color in TWINS:
        fig.add_bar(x=list(block_names), y=np.asarray(share[twin]), name=twin, marker_color=color,
                    hovertemplate="%{x}: %{y:.2f} of the change<extra>" + twin + "</extra>")
    fig.add_hline(y=1.0, line=dict(color="#444", dash="dash", width=2),
                  annotation_text="1: all of it", annotation_position="top left")
    fig.update_layout(barmode="group", bargap=0.25,
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title_text="block")
    fig.update_yaxes(title_text="share through the block's F", zeroline=True, zerolinecolor="#444")
    return styled(fig, title="Which blocks carry the prediction (LayerConductance through each F)", height=440)


def attribution_maps(images: np.ndarray, integrated_gradients: Mapping[str, np.ndarray],
                     saliency: Mapping[str, np.ndarray], labels: Sequence[int],
                     predicted: Mapping[str, Sequence[int]], indices: Sequence[int]) -> go.Figure:
    """One row per image: the input, integrated gradients and saliency of each twin.

    Each row's maps are scaled by that row's largest magnitude over both twins, so within a row
    the twins compare directly (integrated gradients: red for, blue against the label's logit).
    """
    n = len(images)
    columns = ["input", "IG plain", "IG residual", "saliency plain", "saliency residual"]
    fig = make_subplots(rows=n, cols=5, column_titles=columns, horizontal_spacing=0.015, vertical_spacing=0.02)
    for r in range(n):
        ig_scale = max(float(np.abs(integrated_gradients[t][r]).max()) for t, _ in TWINS) or 1.0
        sal_scale = max(float(saliency[t][r].max()) for t, _ in TWINS) or 1.0
        maps = [(images[r], "coloraxis"),
                (integrated_gradients["plain"][r] / ig_scale, "coloraxis2"),
                (integrated_gradients["residual"][r] / ig_scale, "coloraxis2"),
                (saliency["plain"][r] / sal_scale, "coloraxis3"),
                (saliency["residual"][r] / sal_scale, "coloraxis3")]
        for c, (z, axis) in enumerate(maps, start=1):
            # Heatmaps draw row 0 at the bottom; flip so images stand upright.
            fig.add_heatmap(z=np.flipud(z), coloraxis=axis, hovertemplate="%{z:.2f}<extra></extra>",
                            row=r + 1, col=c)
        fig.update_yaxes(title_text=(f"#{indices[r]}: {labels[r]}<br>"
                                     f"<span style='font-size:13px'>plain says {predicted['plain'][r]}, "
                                     f"res {predicted['residual'][r]}</span>"), row=r + 1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, ticks="", linecolor="rgba(0,0,0,0)")
    fig.update_yaxes(showticklabels=False, showgrid=False, ticks="", linecolor="rgba(0,0,0,0)", scaleanchor="x")
    fig.update_layout(
        coloraxis=dict(colorscale="gray", showscale=False),
        coloraxis2=dict(colorscale=DIVERGING, reversescale=True, cmin=-1, cmax=1,
                        colorbar=dict(title="IG", x=1.0, len=0.45, y=0.75, tickvals=[-1, 0, 1],
                                      ticktext=["-max", "0", "max"])),
        coloraxis3=dict(colorscale=SEQUENTIAL, cmin=0, cmax=1,
                        colorbar=dict(title="|grad|", x=1.0, len=0.45, y=0.22, tickvals=[0, 1], ticktext=["0", "max"])),
    )
    return styled(fig, title="Pixel attributions for the label's logit", height=150 + 170 * n)


def attribution_text(share: Mapping[str, np.ndarray], block_names: Sequence[str], n_steps: int) -> list[str]:
    """Sentences on what the block bars show, from the same numbers."""
    plain, residual = (np.asarray(share[t], float) for t, _ in TWINS)
    top = int(np.argmax(residual))
    return [
        f"Plain net: every block carries {plain.min():.2f} to {plain.max():.2f} of the change. In principle exactly "
        f"1 (all of it: every path runs through every block); the gap is the error of {n_steps} integration steps.",
        f"Residual net: each block's F carries {residual.min():.2f} to {residual.max():.2f} (mean "
        f"{residual.mean():.2f}); the rest flows around it through the shortcut. The largest share is "
        f"{block_names[top]}'s ({residual[top]:.2f}).",
    ]


def completeness_text(output_change: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray]) -> str:
    """One sentence checking integrated gradients' completeness on the shown images."""
    worst = max(float(np.max(np.abs(delta[t]) / np.maximum(np.abs(output_change[t]), 1e-6))) for t, _ in TWINS)
    return (f"Integrated gradients add up: on every image shown, the attributions sum to the logit's change from "
            f"the baseline within {100 * worst:.1f}% (Captum's convergence delta).")
