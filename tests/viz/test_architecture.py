"""Architecture figures from plain data: DOT text, cost bars, singular values, shortcut costs, the family curve."""

from __future__ import annotations

import numpy as np
import pytest

from viz.architecture import (
    SINGULAR_FLOOR,
    block_dot,
    family_figure,
    human,
    layer_cost_figure,
    shortcut_cost_figure,
    singular_value_figure,
)
from viz.theme import PLAIN, RESIDUAL


def node(name, kind, label, path, params=0, macs=0, detail="", shape=(4, 8, 8)):
    return dict(name=name, kind=kind, label=label, detail=detail, path=path, shape=shape, params=params, macs=macs)


def edge(src, dst, path="branch", label=""):
    return dict(src=src, dst=dst, label=label, path=path)


def graph(title, nodes, edges):
    return dict(title=title, nodes=nodes, edges=edges, params=sum(n["params"] for n in nodes),
                macs=sum(n["macs"] for n in nodes))


@pytest.fixture
def projection_block() -> dict:
    """A bottleneck with a projection shortcut, as resnet.anatomy describes one."""
    nodes = [node("x", "input", "x", "io"),
             node("conv1", "conv", "1×1 conv, 2", "branch", 8, 512),
             node("conv2", "conv", "3×3 conv, 2", "branch", 36, 2304),
             node("conv3", "conv", "1×1 conv, 8", "branch", 16, 1024),
             node("bn3", "norm", "BN", "branch", 16),
             node("shortcut_0", "conv", "1×1 conv, 8", "shortcut", 32, 2048),
             node("shortcut_1", "norm", "BN", "shortcut", 16),
             node("add", "add", "+", "io", detail="F(x) + W_s x"),
             node("y", "output", "y", "io")]
    edges = [edge("x", "conv1"), edge("conv1", "conv2"), edge("conv2", "conv3"), edge("conv3", "bn3"),
             edge("x", "shortcut_0", "shortcut"), edge("shortcut_0", "shortcut_1", "shortcut"),
             edge("bn3", "add"), edge("shortcut_1", "add", "shortcut"), edge("add", "y", "io")]
    return graph("bottleneck, shortcut B", nodes, edges)


def test_block_dot_draws_every_node_and_edge(projection_block: dict) -> None:
    dot = block_dot(projection_block)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for n in projection_block["nodes"]:
        assert f'"{n["name"]}" [' in dot
    for e in projection_block["edges"]:
        assert f'"{e["src"]}" -> "{e["dst"]}"' in dot
    assert dot.count("->") == len(projection_block["edges"])
    assert 'label="bottleneck, shortcut B"' in dot
    # The shortcut's layers sit level with F's last layers, just before the sum.
    assert '{ rank=same; "conv3"; "shortcut_0"; }' in dot
    assert '{ rank=same; "bn3"; "shortcut_1"; }' in dot


def test_shortcut_path_is_blue_and_identity_edges_are_labelled() -> None:
    nodes = [node("x", "input", "x", "io"), node("conv1", "conv", "3×3 conv, 4", "branch", 144, 9216),
             node("add", "add", "+", "io"), node("y", "output", "y", "io")]
    edges = [edge("x", "conv1"), edge("conv1", "add"), edge("x", "add", "shortcut", "identity"),
             edge("add", "y", "io")]
    dot = block_dot(graph("basic", nodes, edges))
    shortcut_line = next(line for line in dot.splitlines() if '"x" -> "add"' in line)
    assert RESIDUAL in shortcut_line and 'label=" identity "' in shortcut_line
    branch_line = next(line for line in dot.splitlines() if '"x" -> "conv1"' in line)
    assert RESIDUAL not in branch_line
    assert "144 params" in dot and "9.22K MACs" in dot
    assert "rank=same" not in dot  # no shortcut layers to line up


def test_labels_are_escaped_for_graphviz() -> None:
    nodes = [node("x", "input", "x", "io"), node("m", "module", "a<b & c>d", "branch")]
    dot = block_dot(graph("t", nodes, [edge("x", "m")]))
    assert "a&lt;b &amp; c&gt;d" in dot


def test_layer_cost_figure_stacks_3x3_1x1_and_bn(projection_block: dict) -> None:
    fig = layer_cost_figure([projection_block], map_size=56)
    assert fig.layout.barmode == "stack"
    assert len(fig.data) == 6  # three layer kinds x (parameters, multiply-adds)
    by_name = {}
    for trace in fig.data:
        by_name.setdefault(trace.name, []).append(trace.x[0])
    assert by_name["3×3 conv"] == [36, 2304]
    assert by_name["1×1 conv"] == [8 + 16 + 32, 512 + 1024 + 2048]
    assert by_name["BN"] == [32, 0]
    params, macs = (sum(t.x[0] for t in fig.data if t.xaxis == axis) for axis in ("x", "x2"))
    assert params == projection_block["params"] and macs == projection_block["macs"]
    assert "56×56" in fig.layout.annotations[1].text


def test_singular_value_figure_floors_zeros_on_a_log_axis() -> None:
    plain = np.array([2.0, 1.0, 0.0])
    residual = np.array([1.5, 1.0, 0.8])
    fig = singular_value_figure(plain, residual, title="basic")
    assert fig.layout.yaxis.type == "log"
    assert [t.name for t in fig.data] == ["plain: dF/dx", "residual: dF/dx + I"]
    assert [t.line.color for t in fig.data] == [PLAIN, RESIDUAL]
    assert list(fig.data[0].y) == [2.0, 1.0, SINGULAR_FLOOR]
    assert list(fig.data[0].customdata) == [2.0, 1.0, 0.0]  # hover shows the true value
    assert [shape.y0 for shape in fig.layout.shapes] == [1.0, SINGULAR_FLOOR]
    assert fig.layout.title.text == "basic"


def test_shortcut_cost_figure_has_one_bar_per_option_and_stage() -> None:
    stages = {opt: [dict(stage=f"stage{i}", shortcut_params=p * i, shortcut_macs=10 * p * i) for i in (1, 2, 3)]
              for opt, p in (("A", 0), ("B", 5), ("C", 9))}
    fig = shortcut_cost_figure(stages)
    assert fig.layout.barmode == "group"
    assert len(fig.data) == 6
    option_c = [t for t in fig.data if t.name == "option C"]
    assert list(option_c[0].y) == [9, 18, 27] and list(option_c[1].y) == [90, 180, 270]
    assert list(fig.data[0].text) == ["0", "0", "0"]


def test_family_figure_plots_cost_against_error() -> None:
    fig = family_figure(["ResNet-18", "ResNet-50"], [1.8, 4.1], [30.2, 23.9])
    assert list(fig.data[0].x) == [1.8, 4.1] and list(fig.data[0].text) == ["ResNet-18", "ResNet-50"]
    assert "224×224" in fig.layout.xaxis.title.text


@pytest.mark.parametrize(("count", "text"), [(0, "0"), (950, "950"), (73_984, "74K"), (231_211_008, "231M"),
                                              (3_699_376_128, "3.7G")])
def test_human_counts(count: int, text: str) -> None:
    assert human(count) == text
