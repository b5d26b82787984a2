"""Anatomy: the family tables against the papers' and torchvision's numbers, block graphs
read from the modules, costs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models

from resnet.anatomy import (
    REFERENCE_TOP1_ERROR,
    block_anatomy,
    block_graph,
    bottleneck_comparison,
    build_block,
    cifar_family,
    cifar_shortcut_costs,
    imagenet_family,
    imagenet_shortcut_costs,
    multiply_adds,
    variant_family,
)
from resnet.zoo import parameter_count

# torchvision's parameter counts; the reference errors; He et al. 2015's Table 6 (CIFAR) and Table 1 (GMACs).
IMAGENET_PARAMS = [11_689_512, 21_797_672, 25_557_032, 44_549_160, 60_192_808]
REFERENCE_ERRORS = [30.24, 26.73, 24.01, 22.44, 22.16]
CIFAR_PARAMS = [269_722, 464_154, 658_586, 853_018, 1_727_962]
CIFAR_PAPER = [(0.27, 8.75), (0.46, 7.51), (0.66, 7.17), (0.85, 6.97), (1.7, 6.43)]
TABLE1_GMACS = [1.8, 3.6, 3.8, 7.6, 11.3]
# Published parameter counts (torchvision's model tables).
VARIANT_PARAMS = {"resnext50_32x4d": 25_028_904, "wide_resnet50_2": 68_883_240, "densenet121": 7_978_856}
WEIGHTS = ["ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights", "ResNet101_Weights", "ResNet152_Weights"]


@pytest.fixture(scope="module")
def imagenet_rows():
    return imagenet_family()


def test_imagenet_family_counts_match_the_seed(imagenet_rows) -> None:
    assert [r.params for r in imagenet_rows] == IMAGENET_PARAMS
    assert [r.layers for r in imagenet_rows] == [18, 34, 50, 101, 152]
    assert [r.block for r in imagenet_rows] == ["basic", "basic", "bottleneck", "bottleneck", "bottleneck"]
    assert [r.stage_blocks for r in imagenet_rows] == [(2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3),
                                                       (3, 8, 36, 3)]
    assert [r.top1_error_reference for r in imagenet_rows] == REFERENCE_ERRORS
    assert list(REFERENCE_TOP1_ERROR.values()) == REFERENCE_ERRORS


def test_imagenet_multiply_adds_agree_with_torchvision_and_table_1(imagenet_rows) -> None:
    for row, weights, paper in zip(imagenet_rows, WEIGHTS, TABLE1_GMACS, strict=True):
        # torchvision's own metadata ("_ops", GFLOPS in its docs) counts multiply-adds, to 3 decimals.
        assert round(row.macs / 1e9, 3) == getattr(models, weights).IMAGENET1K_V1.meta["_ops"]
        # With the stride on the first 1x1, as in the paper, Table 1's figures come back.
        assert abs(row.macs_paper_stride / 1e9 - paper) < 0.07
        assert row.paper_gmacs == paper
    basic, bottleneck = imagenet_rows[:2], imagenet_rows[2:]
    assert all(r.macs_paper_stride == r.macs for r in basic)
    assert all(r.macs_paper_stride < r.macs for r in bottleneck)


def test_torchvision_errors_come_from_the_weights_metadata(imagenet_rows) -> None:
    errors = [r.top1_error_torchvision for r in imagenet_rows]
    assert errors[0] == pytest.approx(30.24, abs=0.005)  # the one value the seed's table shares with torchvision
    assert errors == sorted(errors, reverse=True)
    assert errors[2] == pytest.approx(100 - 76.13)


def test_variant_family_counts_match_the_published_ones() -> None:
    rows = variant_family()
    assert {r.name: r.params for r in rows} == VARIANT_PARAMS
    assert [r.published_params for r in rows] == [r.params for r in rows]  # the metadata column is read, not echoed
    for row in rows:
        # torchvision's "_ops" counts multiply-adds to 3 decimals, as for the ResNets.
        assert round(row.macs / 1e9, 3) == row.published_gmacs
    resnext, wide, dense = rows
    assert (resnext.layers, wide.layers, dense.layers) == (50, 50, 121)
    assert resnext.stage_blocks == wide.stage_blocks == (3, 4, 6, 3)
    assert dense.stage_blocks == (6, 12, 24, 16)
    assert "32 groups of 4" in resnext.block and "2× as wide" in wide.block and "growth 32" in dense.block
    # Grouping the 3x3 costs about what ResNet-50 costs; doubling its width about 2.7x; DenseNet-121 less.
    assert dense.macs < resnext.macs < wide.macs
    assert dense.top1_error_torchvision == pytest.approx(100 - 74.434)


def test_cifar_family_matches_table_6() -> None:
    rows = cifar_family()
    assert [r.depth for r in rows] == [20, 32, 44, 56, 110]
    assert [r.params for r in rows] == CIFAR_PARAMS
    assert [r.plain_params for r in rows] == CIFAR_PARAMS  # option A: the plain twin has the same count
    assert [r.layers for r in rows] == [20, 32, 44, 56, 110]
    assert [(r.paper_params_m, r.paper_test_error) for r in rows] == CIFAR_PAPER
    for row in rows:
        digits = 2 if row.paper_params_m < 1 else 1  # Table 6 quotes 0.27M ... 0.85M, then 1.7M
        assert round(row.params / 1e6, digits) == row.paper_params_m
    macs = [r.macs for r in rows]
    assert macs == sorted(macs)


def test_cifar_family_rejects_a_depth_that_is_not_6n_plus_2() -> None:
    with pytest.raises(ValueError, match="6n\\+2"):
        cifar_family([21])


def test_multiply_adds_of_a_convolution_follow_the_formula() -> None:
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
    assert multiply_adds(conv, (3, 8, 8)) == 8 * 8 * 8 * 3 * 9  # output elements x (C_in k k)
    assert multiply_adds(nn.Linear(16, 4), (16,)) == 16 * 4


def test_counting_leaves_a_real_model_as_it_was() -> None:
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)).train()
    before = net[1].running_mean.clone()
    multiply_adds(net, (2, 6, 6))
    assert net.training
    assert torch.equal(net[1].running_mean, before)
    assert int(net[1].num_batches_tracked) == 0


def test_bottleneck_graph_has_reduce_3x3_expand_in_order() -> None:
    graph = block_anatomy("bottleneck", shortcut="A", planes=4, size=8)
    convs = [n for n in graph.nodes if n.kind == "conv"]
    assert [n.label for n in convs] == ["1×1 conv, 4", "3×3 conv, 4", "1×1 conv, 16"]
    assert graph.kinds("branch") == ["conv", "norm", "act", "conv", "norm", "act", "conv", "norm"]
    assert graph.kinds("shortcut") == []  # identity: folded into a labelled edge
    assert [e.label for e in graph.edges if e.dst == "add"].count("identity") == 1
    assert graph.nodes[0].kind == "input" and graph.nodes[-1].kind == "output"
    assert [n.shape for n in convs] == [(4, 8, 8), (4, 8, 8), (16, 8, 8)]


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_projection_node_only_under_b_and_c(shortcut: str) -> None:
    down = block_anatomy("bottleneck", shortcut=shortcut, downsample=True, planes=4, size=8)
    same = block_anatomy("bottleneck", shortcut=shortcut, downsample=False, planes=4, size=8)
    if shortcut == "A":
        assert down.kinds("shortcut") == ["pad"]
        assert same.kinds("shortcut") == []
    else:
        assert down.kinds("shortcut") == ["conv", "norm"]
        assert same.kinds("shortcut") == ([] if shortcut == "B" else ["conv", "norm"])
    assert down.nodes[-1].shape == (16, 4, 4)  # stride 2, channels doubled from 8 to 16


def test_plain_block_has_no_sum_and_no_shortcut() -> None:
    graph = block_anatomy("basic", residual=False, planes=4, size=8)
    assert "add" not in graph.kinds()
    assert not [e for e in graph.edges if e.path == "shortcut"]


def test_pre_activation_opens_with_bn_relu_and_ends_at_the_sum() -> None:
    graph = block_anatomy("basic", preact=True, planes=4, size=8)
    assert graph.kinds()[:3] == ["input", "norm", "act"]
    assert graph.kinds("pre") == ["norm", "act"]
    assert graph.kinds()[-2:] == ["add", "output"]  # nothing after the addition
    post = block_anatomy("basic", preact=False, planes=4, size=8)
    assert post.kinds()[-3:] == ["add", "act", "output"]


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_graph_totals_equal_the_module_counts(block: str, shortcut: str) -> None:
    unit, shape = build_block(block, shortcut=shortcut, downsample=True, planes=4, size=8)
    graph = block_graph(unit, shape)
    assert graph.params == parameter_count(unit)
    assert graph.macs == multiply_adds(unit, shape)
    edges = {(e.src, e.dst) for e in graph.edges}
    names = {n.name for n in graph.nodes}
    assert {s for s, _ in edges} | {d for _, d in edges} == names  # every node is connected


def test_bottleneck_comparison_reproduces_fig_5() -> None:
    basic64, bottleneck, basic256 = bottleneck_comparison(56)
    assert bottleneck.nodes[0].shape == basic256.nodes[0].shape == (256, 56, 56)
    assert basic256.macs > 15 * bottleneck.macs  # two 3x3 at 256 vs 1x1-3x3-1x1
    assert abs(bottleneck.macs - basic64.macs) < 0.1 * basic64.macs  # "similar time complexity"
    three = sum(n.macs for n in bottleneck.nodes if n.label.startswith("3×3"))
    assert 0.5 < three / bottleneck.macs < 0.56  # 36,864 of 69,632 weights per position


def test_shortcut_costs_per_stage() -> None:
    a, b, c = (cifar_shortcut_costs(20, opt) for opt in "ABC")
    assert all(s.shortcut_params == 0 and s.shortcut_macs == 0 for s in a)
    assert [s.projections for s in b] == [0, 1, 1]
    assert [s.projections for s in c] == [3, 3, 3]
    assert b[1].shortcut_params == 16 * 32 + 2 * 32  # 1x1 conv 16->32 and its BN
    assert b[1].shortcut_macs == 16 * 32 * 16 * 16
    r50 = imagenet_shortcut_costs("resnet50")
    assert [s.projections for s in r50] == [1, 1, 1, 1]
    assert r50[0].shortcut_params == 64 * 256 + 2 * 256
    assert sum(s.params for s in r50) < 25_557_032


def test_knobs_are_validated() -> None:
    with pytest.raises(ValueError, match="block"):
        build_block("wide")
    with pytest.raises(ValueError, match="planes"):
        build_block("basic", planes=0)
    with pytest.raises(ValueError, match="shortcut"):
        block_anatomy("basic", shortcut="D")
    with pytest.raises(ValueError, match="ImageNet ResNet"):
        imagenet_shortcut_costs("resnet200")
