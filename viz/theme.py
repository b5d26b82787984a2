"""The one Plotly template of the app: large type and strong colours that survive a projector."""

from __future__ import annotations

import plotly.graph_objects as go

PLAIN = "#d95f02"  # plain nets: warm orange throughout the app
RESIDUAL = "#1b6ac9"  # residual nets: blue throughout the app
SEQUENTIAL = "Viridis"  # colour scale of magnitude heatmaps (perceptually uniform, colour-blind safe)
DIVERGING = "RdBu"
FONT_SIZE = 16

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Inter, Helvetica, Arial, sans-serif", size=FONT_SIZE, color="#1f2328"),
        title=dict(font=dict(size=FONT_SIZE + 4), x=0.0, xanchor="left"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=[RESIDUAL, PLAIN, "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"],
        xaxis=dict(showgrid=True, gridcolor="#e6e6e6", zeroline=False, linecolor="#444", ticks="outside"),
        yaxis=dict(showgrid=True, gridcolor="#e6e6e6", zeroline=False, linecolor="#444", ticks="outside"),
        legend=dict(bgcolor="rgba(255,255,255,0.8)"),
        hoverlabel=dict(font=dict(size=FONT_SIZE - 2)),
        margin=dict(l=70, r=30, t=60, b=60),
    )
)


def styled(fig: go.Figure, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """Apply the app's template (and an optional title and height) to `fig` and return it."""
    fig.update_layout(template=TEMPLATE)
    if title is not None:
        fig.update_layout(title_text=title)
    if height is not None:
        fig.update_layout(height=height)
    return fig


def twin_color(residual: bool) -> str:
    """The colour of a plain (False) or residual (True) net."""
    return RESIDUAL if residual else PLAIN


def net_dash(residual: bool) -> str:
    """The line style of a plain (dashed) or residual (solid) net: twins differ by more than hue."""
    return "solid" if residual else "dash"
