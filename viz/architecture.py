"""Figures of the Architecture page: block diagrams as Graphviz DOT text, costs and singular values as Plotly.

Every function takes plain data (dicts, lists, numpy arrays): a block graph is the dict that
resnet.anatomy.BlockGraph.as_dict() gives, with "title", "nodes", "edges", "params", "macs".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import FONT_SIZE, PLAIN, RESIDUAL, styled

# Layer colours: not the plain/residual pair, which means "which twin" everywhere else in the app.
CONV3 = "#1b9e77"
CONV1 = "#7570b3"
NORM = "#a0a0a0"
_FILL = {"conv": "#e3f1ec", "norm": "#f2f2f2", "act": "#fdf3e1", "linear": "#e3f1ec", "pad": "#dde9f8",
         "module": "#ffffff"}
_SHORTCUT_FILL = "#dde9f8"
# Streamlit draws every Graphviz text at one size and scales the SVG to the column: lay the graph
# out for that size, so boxes fit their text and a wide column gives large type.
DOT_FONT_SIZE = 10
SINGULAR_FLOOR = 1e-8  # singular values below this are numerically zero; drawn at the floor


def human(count: float) -> str:
    """A count in the units people read: 1.8G, 231M, 73.9K, 0."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(count) >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:.0f}"


def _node_label(node: Mapping) -> str:
    """An HTML-like Graphviz label: the operation in bold, its shape and cost below."""
    lines = [f"<b>{escape(node['label'])}</b>"]
    if node["detail"]:
        lines.append(escape(node["detail"]))
    costs = []
    if node["params"]:
        costs.append(f"{node['params']:,} params")
    if node["macs"]:
        costs.append(f"{human(node['macs'])} MACs")
    if costs:
        lines.append(" · ".join(costs))
    head, *rest = lines
    small = "".join(f"<br/>{line}" for line in rest)
    return f"<{head}{small}>"


def _node_attrs(node: Mapping) -> dict[str, str]:
    kind, shortcut = node["kind"], node["path"] == "shortcut"
    if kind in ("input", "output"):
        return {"shape": "plaintext", "label": _node_label(node)}
    if kind == "add":
        # No tooltip: Graphviz wraps tooltipped nodes in <a>, whose page styling shrinks the text.
        return {"shape": "circle", "label": "<<b>+</b>>", "width": "0.3", "fixedsize": "true",
                "style": "filled", "fillcolor": "white", "color": RESIDUAL, "penwidth": "2"}
    attrs = {"shape": "box", "style": "rounded,filled", "label": _node_label(node),
             "fillcolor": _SHORTCUT_FILL if shortcut else _FILL.get(kind, "#ffffff"),
             "color": RESIDUAL if shortcut else "#555555", "penwidth": "1.6" if shortcut else "1"}
    if kind == "conv" and "3×3" in node["label"]:
        attrs["penwidth"] = "2"  # the 3x3s carry the cost: draw them heavier
    return attrs


def _attr_text(attrs: Mapping[str, str]) -> str:
    parts = []
    for key, value in attrs.items():
        parts.append(f"{key}={value}" if value.startswith("<") else f'{key}="{value}"')
    return ", ".join(parts)


def block_dot(graph: Mapping) -> str:
    """Graphviz DOT text of a block graph: F down the middle, the shortcut in blue beside it."""
    lines = [
        "digraph block {",
        f'  graph [rankdir=TB, bgcolor="white", nodesep=0.25, ranksep=0.18, fontname="Helvetica", '
        f'fontsize={DOT_FONT_SIZE}, labelloc=t, label="{escape(graph["title"])}"];',
        f'  node [fontname="Helvetica", fontsize={DOT_FONT_SIZE}, margin="0.12,0.04"];',
        '  edge [color="#444444", arrowsize=0.6, penwidth=1.1];',
    ]
    for node in graph["nodes"]:
        attrs = _node_attrs(node)
        # Nodes of one group line up: F stays a straight column and the shortcut runs beside it.
        attrs["group"] = "shortcut" if node["path"] == "shortcut" else "main"
        lines.append(f'  "{node["name"]}" [{_attr_text(attrs)}];')
    for edge in graph["edges"]:
        attrs = {}
        if edge["path"] == "shortcut":
            attrs = {"color": RESIDUAL, "penwidth": "2.2", "fontcolor": RESIDUAL}
            if edge["label"]:
                attrs["label"] = f" {edge['label']} "
        lines.append(f'  "{edge["src"]}" -> "{edge["dst"]}"' + (f" [{_attr_text(attrs)}]" if attrs else "") + ";")
    for pair in _side_by_side(graph):
        lines.append("  { rank=same; " + " ".join(f'"{name}";' for name in pair) + " }")
    lines.append("}")
    return "\n".join(lines)


def _side_by_side(graph: Mapping) -> list[tuple[str, str]]:
    """Pairs (branch node, shortcut node) to draw level, so the shortcut's layers sit just before the sum."""
    before_sum = [n["name"] for n in graph["nodes"] if n["kind"] not in ("input", "output", "add")
                  and n["path"] in ("branch", "pre")]
    shortcut = [n["name"] for n in graph["nodes"] if n["path"] == "shortcut"]
    if not shortcut or len(shortcut) > len(before_sum):
        return []
    return list(zip(before_sum[-len(shortcut):], shortcut, strict=True))


def _conv_costs(graph: Mapping) -> dict[str, tuple[int, int]]:
    """(params, MACs) of one block split into 3x3 convolutions, 1x1 convolutions and BN."""
    split = {"3×3 conv": [0, 0], "1×1 conv": [0, 0], "BN": [0, 0]}
    for node in graph["nodes"]:
        if node["kind"] == "conv":
            key = "3×3 conv" if "3×3" in node["label"] else "1×1 conv"
        elif node["kind"] == "norm":
            key = "BN"
        else:
            continue
        split[key][0] += node["params"]
        split[key][1] += node["macs"]
    return {k: (p, m) for k, (p, m) in split.items()}


def layer_cost_figure(graphs: Sequence[Mapping], *, map_size: int) -> go.Figure:
    """Parameters and multiply-adds per block, stacked by 3x3 conv, 1x1 conv and BN (Fig. 5, measured)."""
    names = [g["title"] for g in graphs]
    costs = [_conv_costs(g) for g in graphs]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Parameters", f"Multiply-adds at {map_size}×{map_size}"),
                        horizontal_spacing=0.14)
    for key, color in (("3×3 conv", CONV3), ("1×1 conv", CONV1), ("BN", NORM)):
        for col, index in ((1, 0), (2, 1)):
            values = [c[key][index] for c in costs]
            fig.add_bar(x=values, y=names, orientation="h", name=key, marker_color=color, legendgroup=key,
                        showlegend=col == 1, row=1, col=col,
                        hovertemplate=f"{key}: %{{x:,}}<extra>%{{y}}</extra>")
    for col, key in ((1, "params"), (2, "macs")):
        for g in graphs:
            fig.add_annotation(x=g[key], y=g["title"], text=f" {human(g[key])}", showarrow=False, xanchor="left",
                               font=dict(size=FONT_SIZE), row=1, col=col)
        top = max(g[key] for g in graphs)
        fig.update_xaxes(range=[0, top * 1.25], row=1, col=col)
    fig.update_xaxes(exponentformat="SI")
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=-0.18, x=0.0), margin=dict(l=260))
    return styled(fig, height=380)


def singular_value_figure(singular_plain: np.ndarray, singular_residual: np.ndarray, *, title: str) -> go.Figure:
    """Sorted singular values of dF/dx (plain) and dF/dx + I (residual) on a log axis, with 1 marked."""
    fig = go.Figure()
    for values, name, color in ((singular_plain, "plain: dF/dx", PLAIN),
                                (singular_residual, "residual: dF/dx + I", RESIDUAL)):
        values = np.sort(np.asarray(values, dtype=float))[::-1]
        shown = np.maximum(values, SINGULAR_FLOOR)
        fig.add_scatter(x=np.arange(1, len(values) + 1), y=shown, mode="lines", name=name,
                        line=dict(color=color, width=3), customdata=values,
                        hovertemplate="σ%{x} = %{customdata:.3g}<extra>" + name + "</extra>")
    fig.add_hline(y=1.0, line=dict(color="#444444", dash="dash", width=1.5),
                  annotation_text="σ = 1: a direction passed on unchanged in size", annotation_position="top right")
    fig.add_hline(y=SINGULAR_FLOOR, line=dict(color="#999999", dash="dot", width=1))
    # Annotations on a log axis take the exponent, not the value.
    fig.add_annotation(x=0.5, xref="paper", y=np.log10(SINGULAR_FLOOR), yanchor="bottom", showarrow=False,
                       text=f"numerically zero (below {SINGULAR_FLOOR:g}), drawn at the floor")
    fig.update_yaxes(type="log", title_text="singular value", exponentformat="power")
    fig.update_xaxes(title_text="index, largest first")
    fig.update_layout(legend=dict(x=0.02, y=0.45, yanchor="middle", bordercolor="#cccccc", borderwidth=1))
    return styled(fig, title=title, height=460)


def shortcut_cost_figure(stages_by_option: Mapping[str, Sequence[Mapping]]) -> go.Figure:
    """Shortcut parameters and multiply-adds per stage, one bar per shortcut option."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Shortcut parameters", "Shortcut multiply-adds"),
                        horizontal_spacing=0.1)
    colors = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e")
    for (option, stages), color in zip(stages_by_option.items(), colors, strict=False):
        names = [s["stage"] for s in stages]
        for col, key in ((1, "shortcut_params"), (2, "shortcut_macs")):
            values = [s[key] for s in stages]
            fig.add_bar(x=names, y=values, name=f"option {option}", marker_color=color, legendgroup=option,
                        showlegend=col == 1, text=[human(v) for v in values], textposition="outside",
                        cliponaxis=False, row=1, col=col,
                        hovertemplate=f"option {option}: %{{y:,}}<extra>%{{x}}</extra>")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2, yanchor="top", x=0.0),
                      margin=dict(b=110))
    return styled(fig, height=440)


def family_figure(names: Sequence[str], gmacs: Sequence[float], top1_error: Sequence[float]) -> go.Figure:
    """Top-1 error against multiply-adds for the ImageNet family: what each step of depth buys."""
    fig = go.Figure(go.Scatter(x=list(gmacs), y=list(top1_error), mode="lines+markers+text", text=list(names),
                               textposition="top right", marker=dict(size=12, color=RESIDUAL),
                               line=dict(color=RESIDUAL, width=2),
                               hovertemplate="%{text}: %{x:.2f} GMACs, %{y:.2f}% top-1 error<extra></extra>"))
    fig.update_xaxes(title_text="multiply-adds at 224×224 (×10⁹)", rangemode="tozero")
    fig.update_yaxes(title_text="top-1 error (%)")
    return styled(fig, title="Cost and error of the ImageNet family", height=420)
