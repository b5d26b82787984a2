"""The figures of a run, live or recorded: heatmaps, block profiles, curves. One set for every page.

Each takes a RunView (viz/runview.py) and returns a go.Figure: the Gradient flow page, the Runs
page, talks and the exports draw a run with these functions and no others. Errors are drawn
in percent everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

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
    layout = panels([title_of(r, view.nets[r]) for r in roles], spacing=0.08)
    words, symbol = _stat(stat)
    span = log_range([_values(view.nets[r], stat)[0] for r in roles])
    traces = []
    for col, role in enumerate(roles, start=1):
        net = view.nets[role]
        values, labels = _values(net, stat)
        traces.append(dict(
            # float32 and int32: half the bytes a redraw sends, and more precision than a colour shows
            type="heatmap", z=log10(values).T.astype(np.float32), x=net.steps.astype(np.int32), y=list(labels),
            coloraxis="coloraxis", name=title_of(role, net), xaxis=f"x{_n(col)}", yaxis=f"y{_n(col)}",
            hovertemplate=f"{title_of(role, net)}<br>%{{y}}<br>step %{{x}}<br>{symbol} = 10^%{{z:.2f}}<extra></extra>"))
        # Twins share their rows: the labels once, at the left, so the right panel's do not crowd the left one.
        repeat = col > 1 and list(labels) == list(traces[0]["y"])
        layout[f"yaxis{_n(col)}"].update(autorange="reversed", type="category", automargin=True,
                                         showticklabels=not repeat)
        end = max(view.total_steps, int(net.steps.max()) if len(net.steps) else 1)
        layout[f"xaxis{_n(col)}"].update(title_text="step", range=[0.5, end + 0.5])
        for step, on, text in event_marks(net.events, labels):
            vline(layout, step + 0.5, col, dict(color="#00c853" if on else "white", width=2, dash="dash"), text)
        if net.thinned_after is not None and len(net.steps) and net.steps.max() > net.thinned_after:
            vline(layout, net.thinned_after + 0.5, col, dict(color="#bbbbbb", width=1, dash="dot"), "window means →",
                  xanchor="left", yanchor="bottom")
    colorbar = dict(title=dict(text=f"{symbol}<br>(log scale)"))
    if span is not None:
        ticks = log_ticks(*span)
        colorbar.update(tickvals=[float(np.log10(t)) for t in ticks], ticktext=decade_labels(ticks))
    layout["coloraxis"] = dict(colorscale=SEQUENTIAL, cmin=span[0] if span else None, cmax=span[1] if span else None,
                               colorbar=colorbar)
    return styled(go.Figure(data=traces, layout=layout),
                  title=title or f"{words[0].upper()}{words[1:]} (input at the top)", height=height)


def _n(col: int) -> str:
    """The suffix of a panel's axes: "" for the first ("x", "y"), "2" for the second ("x2", "y2"), ..."""
    return "" if col == 1 else str(col)


def panels(titles: Sequence[str], *, spacing: float) -> dict:
    """The layout of panels side by side, titled, as a plain dict to add to before one Figure is built.

    What make_subplots(rows=1, cols=n) lays out; built as one dict and validated once, a redraw's
    figures take a fraction of the time that make_subplots and per-panel updates take.
    """
    n = max(1, len(titles))
    width = (1 - spacing * (n - 1)) / n
    layout: dict = {"annotations": [], "shapes": []}
    for col in range(1, n + 1):
        lo = (col - 1) * (width + spacing)
        layout[f"xaxis{_n(col)}"] = dict(domain=[lo, lo + width], anchor=f"y{_n(col)}")
        layout[f"yaxis{_n(col)}"] = dict(domain=[0.0, 1.0], anchor=f"x{_n(col)}")
        if col <= len(titles):
            layout["annotations"].append(dict(text=titles[col - 1], x=lo + width / 2, y=1.0, xref="paper",
                                              yref="paper", xanchor="center", yanchor="bottom", showarrow=False,
                                              font=dict(size=16)))
    return layout


def vline(layout: dict, x: float, col: int, line: dict, text: str = "", *, xanchor: str = "right",
          yanchor: str = "top") -> None:
    """A vertical line across panel `col` of a `panels` layout, with an optional label at its top (or its
    bottom: `yanchor="bottom"`)."""
    ref = dict(xref=f"x{_n(col)}", yref=f"y{_n(col)} domain")
    layout["shapes"].append(dict(type="line", x0=x, x1=x, y0=0, y1=1, line=line, **ref))
    if text:
        layout["annotations"].append(dict(x=x, y=1 if yanchor == "top" else 0, text=text, showarrow=False,
                                          xanchor=xanchor, yanchor=yanchor, font=dict(size=12), **ref))


def event_marks(events: Sequence[Event], labels: Sequence[str]) -> list[tuple[int, bool, str]]:
    """Shortcut switches as marks: one per step and direction, however many blocks switched together.

    (step, on, label), in step order. A presenter who cuts sixteen shortcuts at one step gets one
    line saying "b16–b31 off", not sixteen lines on top of each other.
    """
    groups: dict[tuple[int, bool], list[int | None]] = {}
    for step, block, on in events:
        groups.setdefault((int(step), bool(on)), []).append(block)
    return [(step, on, f"{_blocks_text(blocks, labels)} {'on' if on else 'off'}")
            for (step, on), blocks in sorted(groups.items(), key=lambda kv: kv[0][0])]


def _blocks_text(blocks: Sequence[int | None], labels: Sequence[str]) -> str:
    if None in blocks:
        return "all shortcuts"
    unique = sorted(set(blocks))

    def name(b: int) -> str:
        return labels[b] if b < len(labels) else f"block {b}"

    if len(unique) == 1:
        return name(unique[0])
    if unique == list(range(unique[0], unique[-1] + 1)):
        return f"{name(unique[0])}–{name(unique[-1])}"
    return f"{len(unique)} shortcuts"


def row_at(net: NetView, step: int | None) -> int | None:
    """The row shown for `step`: the last finite row at or before it (None: the latest finite row)."""
    if step is None:
        return net.last_finite()
    rows = np.flatnonzero(net.steps <= step)
    return int(rows[-1]) if len(rows) else None


def block_profile(view: RunView, stat: str = "grad_norm", *, step: int | None = None, title: str | None = None,
                  height: int = 400) -> go.Figure:
    """One value per block for each net, overlaid, input to output, at `step` (default: the latest)."""
    colors = net_colors(view)
    words, symbol = _stat(stat)
    shown, traces = None, []
    for role, net in view.nets.items():
        row = row_at(net, step)
        if row is None:
            continue
        values, labels = _values(net, stat)
        shown = int(net.steps[row]) if shown is None else max(shown, int(net.steps[row]))
        traces.append(dict(
            type="scatter", x=list(labels), y=np.asarray(values[row], dtype=np.float64), mode="lines+markers",
            name=title_of(role, net), line=dict(color=colors[role], width=3, dash=net_dash(net.residual)),
            marker=dict(size=7, symbol="circle" if net.residual else "square"),
            hovertemplate=f"{title_of(role, net)}<br>%{{x}}<br>{symbol} = %{{y:.3e}}<extra></extra>"))
    log_y = stat != "act_mean"
    yaxis = dict(title_text=symbol, type="log" if log_y else "linear", exponentformat="power", automargin=True)
    if log_y:
        span = log_range([t["y"] for t in traces])
        # Every decade on wide ranges, 1-2-5 steps on narrow ones: never a wall of minor labels.
        yaxis["dtick"] = 1 if span and span[1] - span[0] > 2 else "D2"
    layout = dict(xaxis=dict(title_text="block (input → output)", type="category", tickangle=-45, automargin=True,
                             title_standoff=12), yaxis=yaxis,
                  legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    at = "" if shown is None else f" at step {shown}"
    return styled(go.Figure(data=traces, layout=layout), title=title or f"{words[0].upper()}{words[1:]}{at}",
                  height=height)


def curves(view: RunView, *, height: int = 380) -> go.Figure:
    """Training loss (log) and error in percent (training thin, test bold) against step, for each net."""
    layout = panels(["Training loss", "Error (%)"], spacing=0.1)
    colors = net_colors(view)
    traces = []
    for role, net in view.nets.items():
        name, color, dash = title_of(role, net), colors[role], net_dash(net.residual)
        traces.append(dict(type="scatter", x=net.curve_steps, y=net.loss, name=f"{name} loss", mode="lines",
                           line=dict(color=color, width=2, dash=dash), legendgroup=role))
        traces.append(dict(type="scatter", x=net.curve_steps, y=100 * np.asarray(net.train_error, np.float64),
                           name=f"{name} training error", mode="lines", line=dict(color=color, width=1, dash="dot"),
                           legendgroup=role, xaxis="x2", yaxis="y2"))
        if len(net.test_steps):
            traces.append(dict(type="scatter", x=net.test_steps, y=100 * np.asarray(net.test_error, np.float64),
                               name=f"{name} test error", mode="lines+markers",
                               line=dict(color=color, width=4, dash=dash), legendgroup=role, xaxis="x2", yaxis="y2"))
    for step, on, _text in event_marks(view.events, view.names):
        for col in (1, 2):
            vline(layout, step + 0.5, col, dict(color="#888", width=1, dash="dot" if on else "dash"))
    losses = np.concatenate([np.asarray(n.loss, np.float64) for n in view.nets.values()]) if view.nets else []
    losses = np.asarray(losses)[np.isfinite(losses) & (np.asarray(losses) > 0)] if len(losses) else np.zeros(0)
    layout["yaxis"].update(type="log", exponentformat="power")
    if losses.size:  # 1-2-5 ticks: plotly's own crowd a log axis that spans less than a decade
        ticks = log_ticks(float(np.log10(losses.min())), float(np.log10(losses.max())))
        if len(ticks) >= 2:
            layout["yaxis"].update(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    layout["yaxis2"].update(range=[0, 100], ticksuffix="%")
    for axis in ("xaxis", "xaxis2"):
        layout[axis].update(title_text="step", range=[0, max(view.total_steps, view.step, 1)])
    layout["legend"] = dict(orientation="h", y=-0.42, yanchor="top", x=0.5, xanchor="center")  # below the "step" titles
    return styled(go.Figure(data=traces, layout=layout), height=height)


def run_figures(view: RunView, *, layers: bool = False) -> dict[str, go.Figure]:
    """Every figure of a run by name, as the pages show them and the exports write them."""
    return {
        "gradient_heatmap": heatmaps(view, "layer_grad_norm" if layers else "grad_norm"),
        "input_gradient_heatmap": heatmaps(view, "input_grad_norm"),
        "gradient_profile": block_profile(view, "grad_norm"),
        "activation_std": block_profile(view, "act_std"),
        "curves": curves(view),
    }
