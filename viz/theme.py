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
    extra = {k: v for k, v in (("title_text", title), ("height", height)) if v is not None}
    fig.update_layout(template=TEMPLATE, **extra)  # one update: each validates the whole layout
    return fig


def twin_color(residual: bool) -> str:
    """The colour of a plain (False) or residual (True) net."""
    return RESIDUAL if residual else PLAIN


def net_dash(residual: bool) -> str:
    """The line style of a plain (dashed) or residual (solid) net: twins differ by more than hue."""
    return "solid" if residual else "dash"


PROJECTOR_FONT_SIZE = 22  # body text on a projector; ticks get PROJECTOR_TICK_SIZE
PROJECTOR_TICK_SIZE = 18  # at least 16 px, read from the back of a room
PROJECTOR_PLAIN = "#f28e2b"  # light orange: the plain twin, lighter than ...
PROJECTOR_RESIDUAL = "#08306b"  # ... a dark navy residual twin, so grey-scale and colour-blind eyes tell them apart


def projector(fig: go.Figure) -> go.Figure:
    """The app's template sized and coloured for a washed-out projector: bigger type, thicker lines,
    twins apart by lightness (and their dash) as well as hue. Changes `fig` in place and returns it."""
    fig.update_layout(font=dict(size=PROJECTOR_FONT_SIZE, color="#000000"),
                      title=dict(font=dict(size=PROJECTOR_FONT_SIZE + 4)),
                      hoverlabel=dict(font=dict(size=PROJECTOR_TICK_SIZE)))
    # Large slanted tick labels push the axis title down instead of running into it.
    fig.update_xaxes(tickfont=dict(size=PROJECTOR_TICK_SIZE), title_font=dict(size=PROJECTOR_FONT_SIZE),
                     linecolor="#000000", linewidth=2, gridcolor="#cccccc", automargin=True, title_standoff=10)
    fig.update_yaxes(tickfont=dict(size=PROJECTOR_TICK_SIZE), title_font=dict(size=PROJECTOR_FONT_SIZE),
                     linecolor="#000000", linewidth=2, gridcolor="#cccccc")
    fig.update_annotations(font_size=PROJECTOR_FONT_SIZE)  # subplot titles and event marks
    fig.update_coloraxes(colorbar=dict(tickfont=dict(size=PROJECTOR_TICK_SIZE),
                                       title=dict(font=dict(size=PROJECTOR_TICK_SIZE))))
    # The legend goes outside the plot, on the right: at projector size, entries above or below the plot
    # run into the title or an axis title.
    fig.update_layout(legend=dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top"))
    swap = {PLAIN: PROJECTOR_PLAIN, RESIDUAL: PROJECTOR_RESIDUAL}
    for trace in fig.data:
        if trace.type == "scatter" and trace.line.width == 0:  # the edge of a band: it stays invisible
            continue
        if trace.type == "scatter":
            color = trace.line.color
            trace.update(line=dict(color=swap.get(color, color), width=max(4, trace.line.width or 0)))
            if trace.marker is not None and trace.marker.color in swap:
                trace.update(marker=dict(color=swap[trace.marker.color]))
        elif trace.type == "bar" and isinstance(trace.marker.color, str) and trace.marker.color in swap:
            trace.update(marker=dict(color=swap[trace.marker.color]))
    for shape in fig.layout.shapes:  # reference lines (a twin's intact accuracy) keep their twin's colour
        if shape.line.color in swap:
            shape.line.color = swap[shape.line.color]
    for note in fig.layout.annotations:
        if note.font.color in swap:
            note.font.color = swap[note.font.color]
    return fig
