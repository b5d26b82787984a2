"""Loss-landscape figures (Li et al. 2018): contours, surfaces and 1-D slices, plain vs residual.

Loss spans orders of magnitude a short way from the trained weights, so colour and height show
log10(loss), and both twins share one colour scale: equal colours mean equal loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import PLAIN, RESIDUAL, SEQUENTIAL, styled

TWINS = (("plain", PLAIN), ("residual", RESIDUAL))


def shared_log_range(loss: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(min, max) of log10(loss) over both twins' computed points; (0, 1) before any is computed."""
    values = np.concatenate([np.log10(np.asarray(v, float)[np.isfinite(v)]) for v in loss.values()])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return lo, max(hi, lo + 1e-3)


def _log_ticks(lo: float, hi: float) -> dict:
    """Colour-bar ticks at 1-2-5 steps of the loss itself (decades alone past 3 of them, where 1-2-5 steps
    would crowd the bar), placed on the log10 scale."""
    steps = (1, 2, 5) if hi - lo <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1) for m in steps]
    ticks = [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]
    return dict(tickvals=[np.log10(t) for t in ticks], ticktext=[f"{t:g}" for t in ticks], title="loss")


def landscape_contours(alphas: np.ndarray, betas: np.ndarray, loss: Mapping[str, np.ndarray], *,
                       title: str = "Loss around the trained weights") -> go.Figure:
    """Filled contours of log10(loss) over the 2-D slice, side by side on one colour scale."""
    lo, hi = shared_log_range(loss)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t for t, _ in TWINS], horizontal_spacing=0.08)
    for col, (twin, color) in enumerate(TWINS, start=1):
        z = np.log10(np.asarray(loss[twin], float))
        fig.add_contour(x=alphas, y=betas, z=z, zmin=lo, zmax=hi, colorscale=SEQUENTIAL,
                        contours=dict(coloring="heatmap", showlines=True, start=lo, end=hi,
                                      size=max((hi - lo) / 14, 1e-3)),
                        line=dict(width=1, color="rgba(255,255,255,0.6)"), showscale=col == 2,
                        colorbar=_log_ticks(lo, hi) | dict(len=0.9), connectgaps=False,
                        customdata=np.asarray(loss[twin], float), name=twin,
                        hovertemplate="a %{x:.2f}, b %{y:.2f}: loss %{customdata:.3g}<extra>" + twin + "</extra>",
                        row=1, col=col)
        fig.add_scatter(x=[0], y=[0], mode="markers", marker=dict(symbol="x", size=13, color=color,
                                                                   line=dict(width=2, color="white")),
                        name=f"{twin}: trained weights", showlegend=False, row=1, col=col)
        fig.update_xaxes(title_text="direction 1", row=1, col=col, showgrid=False)
        fig.update_yaxes(title_text="direction 2" if col == 1 else None, row=1, col=col, showgrid=False,
                         scaleanchor=f"x{'' if col == 1 else col}")
    return styled(fig, title=title, height=560)


def landscape_surfaces(alphas: np.ndarray, betas: np.ndarray, loss: Mapping[str, np.ndarray]) -> go.Figure:
    """3-D surfaces of log10(loss), side by side, one colour scale and one height range."""
    lo, hi = shared_log_range(loss)
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "scene"}]],
                        subplot_titles=[t for t, _ in TWINS], horizontal_spacing=0.02)
    for col, (twin, _) in enumerate(TWINS, start=1):
        fig.add_surface(x=alphas, y=betas, z=np.log10(np.asarray(loss[twin], float)), cmin=lo, cmax=hi,
                        colorscale=SEQUENTIAL, showscale=col == 2, colorbar=_log_ticks(lo, hi) | dict(len=0.8),
                        name=twin, row=1, col=col)
    scene = dict(xaxis_title="direction 1", yaxis_title="direction 2", zaxis=dict(title="log10 loss", range=[lo, hi]),
                 camera=dict(eye=dict(x=1.5, y=1.5, z=1.0)), aspectmode="cube")
    fig.update_layout(scene=scene, scene2=scene)
    return styled(fig, title="The same slices as surfaces (height: log10 loss)", height=600)


def landscape_line(alphas: np.ndarray, loss: Mapping[str, np.ndarray], accuracy: Mapping[str, np.ndarray]) -> go.Figure:
    """Loss (log scale) and accuracy along one direction, both twins; the trained weights at 0."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "accuracy on the same samples"],
                        horizontal_spacing=0.1)
    for twin, color in TWINS:
        fig.add_scatter(x=alphas, y=np.ravel(loss[twin]), mode="lines", name=twin, line=dict(color=color, width=3),
                        hovertemplate="a %{x:.2f}: loss %{y:.3g}<extra>" + twin + "</extra>", row=1, col=1)
        fig.add_scatter(x=alphas, y=100 * np.ravel(accuracy[twin]), mode="lines", name=twin, showlegend=False,
                        line=dict(color=color, width=3),
                        hovertemplate="a %{x:.2f}: %{y:.1f}% correct<extra>" + twin + "</extra>", row=1, col=2)
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 105], row=1, col=2)
    fig.update_xaxes(title_text="step along direction 1 (0: trained weights)")
    return styled(fig, title="Along one filter-normalised direction", height=440)


def local_minima(loss: np.ndarray) -> int:
    """Grid points lower than all eight neighbours (edges compare with the neighbours they have)."""
    z = np.asarray(loss, float)
    padded = np.pad(z, 1, constant_values=np.inf)
    rows, cols = z.shape
    lower = np.ones_like(z, bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                lower &= z < padded[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
    return int(lower.sum())


def landscape_text(loss: Mapping[str, np.ndarray], *, num_classes: int, depth: int,
                   test_error: Mapping[str, float]) -> list[str]:
    """Sentences on what the 2-D slices show: minima on the grid, basin depth, where the nets beat guessing."""
    guess = float(np.log(num_classes))  # cross-entropy of a uniform guess
    grids = {t: np.asarray(loss[t], float) for t, _ in TWINS}
    centre = {t: float(g[g.shape[0] // 2, g.shape[1] // 2]) for t, g in grids.items()}
    minima = {t: local_minima(g) for t, g in grids.items()}
    basin = {t: float(np.mean(g < guess)) for t, g in grids.items()}
    decades = {t: float(np.log10(np.median(g) / centre[t])) for t, g in grids.items()}  # bowl depth
    lines = [f"At the trained weights (the cross) the loss is {centre['plain']:.3g} (plain) and "
             f"{centre['residual']:.3g} (residual). The slice beats a uniform guess (loss ln {num_classes} = "
             f"{guess:.2f}) on {100 * basin['plain']:.0f}% of its area for the plain net and "
             f"{100 * basin['residual']:.0f}% for the residual net.",
             f"Local minima on the grid: {minima['plain']} (plain), {minima['residual']} (residual). From the "
             f"centre to the slice's median loss: {decades['plain']:.1f} decades (plain), "
             f"{decades['residual']:.1f} (residual)."]
    if minima["plain"] > max(2, 2 * minima["residual"]):
        lines.append("The plain net's slice is rugged, with several local minima, where the residual twin's is one "
                     "basin: the contrast Li et al. (2018) show between ResNet-56 without and with skips.")
    elif depth < 56:
        lines.append(f"At depth {depth} both slices are single smooth basins. Li et al. (2018) found the same at "
                     "this depth (ResNet-20 without skips still looks convex); the chaotic no-skip landscape "
                     "appears from 56 layers on. Try the 56-layer pair.")
    else:
        lines.append("The chaotic no-skip landscape Li et al. (2018) report for 56 layers on CIFAR-10 does not "
                     "show on this grid for this pair: both slices are single basins.")
    if centre["plain"] > 10 * centre["residual"] and decades["plain"] < decades["residual"] - 1:
        lines.append(f"The plain net's weights sit in a shallow dip of a high plateau rather than at the bottom of "
                     f"a deep bowl, and it is the net that did worse: test error {100 * test_error['plain']:.1f}% vs "
                     f"{100 * test_error['residual']:.1f}% (Li et al.: 13.31% vs 5.89% for ResNet-56 on CIFAR-10).")
    return lines
