"""Architecture: the ResNet family, the residual block and its shortcuts, and the gradient identity, measured."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from pages.common import require_router
from resnet.anatomy import (
    CIFAR_DEPTHS,
    block_anatomy,
    bottleneck_comparison,
    cifar_family,
    cifar_shortcut_costs,
    imagenet_family,
    imagenet_shortcut_costs,
    variant_family,
)
from resnet.identity import gradient_identity
from viz.architecture import (
    SINGULAR_FLOOR,
    block_dot,
    family_figure,
    human,
    layer_cost_figure,
    shortcut_cost_figure,
    singular_value_figure,
)

require_router()

MAP_SIZE = 56  # conv2_x of the ImageNet nets: where the paper's Fig. 5 blocks sit
SHORTCUT_LABELS = {
    "A": "A: identity, zero-padded where the shape changes",
    "B": "B: projection only where the shape changes",
    "C": "C: projection on every block",
    "none": "none: the plain block",
}
# (width, map side) of the checked unit: Jacobians of a few hundred dimensions; MLP units have no map.
IDENTITY_SIZES = {"basic": (8, 6), "bottleneck": (4, 6), "mlp": (64, 6)}
NUMBER = st.column_config.NumberColumn(format="localized")


@st.cache_data(show_spinner="Counting the ImageNet family on the meta device...")
def _imagenet() -> list:
    return imagenet_family()


@st.cache_data(show_spinner="Counting ResNeXt, Wide ResNet and DenseNet on the meta device...")
def _variants() -> list:
    return variant_family()


@st.cache_data(show_spinner="Counting the CIFAR-10 family...")
def _cifar() -> list:
    return cifar_family()


@st.cache_data(show_spinner=False)
def _anatomy(block: str, shortcut: str, preact: bool, downsample: bool, planes: int) -> dict:
    graph = block_anatomy(block, residual=shortcut != "none", shortcut="A" if shortcut == "none" else shortcut,
                          preact=preact, downsample=downsample, planes=planes, size=MAP_SIZE)
    return graph.as_dict()


@st.cache_data(show_spinner=False)
def _bottlenecks() -> list[dict]:
    return [g.as_dict() for g in bottleneck_comparison(MAP_SIZE)]


@st.cache_data(show_spinner="Counting shortcuts per stage...")
def _shortcut_costs(depth: int) -> dict[str, list[dict]]:
    return {opt: [dataclasses.asdict(s) for s in cifar_shortcut_costs(depth, opt)] for opt in ("A", "B", "C")}


@st.cache_data(show_spinner=False)
def _resnet50_shortcuts() -> list[dict]:
    return [dataclasses.asdict(s) for s in imagenet_shortcut_costs("resnet50")]


@st.cache_data(show_spinner="Computing the Jacobian in float64...")
def _identity(block: str, preact: bool, seed: int):
    width, size = IDENTITY_SIZES[block]
    return gradient_identity(block, preact=preact, width=width, size=size, seed=seed)


def family_section() -> None:
    """The ImageNet and CIFAR-10 families, counted, beside the paper."""
    rows, variants = _imagenet(), _variants()
    st.subheader("The ImageNet family (He et al. 2015, Table 1) and its relatives")
    none = [None] * len(variants)
    st.dataframe(pd.DataFrame({
        "model": [r.name for r in rows] + [r.name for r in variants],
        "paper": ["He et al. 2015"] * len(rows) + [r.paper for r in variants],
        "layers": [r.layers for r in rows] + [r.layers for r in variants],
        "block": [r.block for r in rows] + [r.block for r in variants],
        "blocks per stage": [" / ".join(map(str, r.stage_blocks)) for r in rows + variants],
        "parameters": [r.params for r in rows] + [r.params for r in variants],
        "parameters (torchvision metadata)": [r.published_params for r in rows + variants],
        "GMACs (torchvision)": [round(r.macs / 1e9, 2) for r in rows + variants],
        "GMACs (torchvision metadata)": [r.published_gmacs for r in rows + variants],
        "GMACs (stride on the 1×1, as the paper)": [round(r.macs_paper_stride / 1e9, 2) for r in rows] + none,
        "GMACs (paper, Table 1)": [r.paper_gmacs for r in rows] + none,
        "top-1 error % (torchvision V1 weights)": [round(r.top1_error_torchvision, 2) for r in rows + variants],
        "top-1 error % (lab reference)": [r.top1_error_reference for r in rows] + none,
    }), hide_index=True, column_config={"parameters": NUMBER, "parameters (torchvision metadata)": NUMBER})
    r50 = next(r for r in rows if r.name == "resnet50")
    st.markdown(
        "Counted live from torchvision's builders (no weights downloaded) on PyTorch's meta device, at 224×224, "
        "beside the parameter and multiply-add counts that torchvision publishes in the metadata of its "
        "`IMAGENET1K_V1` weights (`num_params`, `_ops`; the metadata ships with torchvision). "
        "**GMACs are multiply-adds ×10⁹**, the unit of the paper's Table 1: `torch.utils.flop_counter` reports "
        "FLOPs = 2 × multiply-adds for the convolutions and the final fully connected layer; batch norm, ReLU, "
        "pooling and the additions are not counted.\n\n"
        f"torchvision's bottleneck nets put the stride-2 of each stage on the 3×3 convolution (\"ResNet v1.5\"); "
        f"the paper's model puts it on the first 1×1, so that 3×3 runs on a 4× smaller map. Moved back, ResNet-50 "
        f"costs {r50.macs_paper_stride / 1e9:.2f} instead of {r50.macs / 1e9:.2f} GMACs, close to Table 1's "
        f"{r50.paper_gmacs}. Basic-block nets (18, 34) have no 1×1 to move it to.\n\n"
        "Top-1 errors (single 224×224 crop): the first column is read from the metadata of torchvision's "
        "`IMAGENET1K_V1` weights. The lab's reference column agrees for ResNet-18 only; its other values "
        "(26.73, 24.01, 22.44, 22.16) are the 1-crop errors of fb.resnet.torch, Facebook's Torch "
        "re-implementation, not of torchvision's weights.\n\n"
        "The relatives keep ResNet-50's stages of bottlenecks and change their 3×3: ResNeXt-50 "
        "32x4d splits it into groups (Xie et al. 2017), Wide ResNet-50-2 doubles its width "
        "(Zagoruyko & Komodakis 2016). DenseNet-121 (Huang et al. 2017) replaces the sum by a concatenation: "
        "each dense layer adds its new channels to everything before it in its dense block. The paper columns "
        "are He et al.'s, so they stay empty for these three."
    )
    st.plotly_chart(family_figure([r.name.replace("resnet", "ResNet-") for r in rows],
                                  [r.macs / 1e9 for r in rows], [r.top1_error_torchvision for r in rows]),
                    theme=None)

    cifar = _cifar()
    st.subheader("The CIFAR-10 family (Sec. 4.2, option A, Table 6)")
    st.dataframe(pd.DataFrame({
        "depth (6n+2)": [r.depth for r in cifar],
        "n": [r.n for r in cifar],
        "layers counted": [r.layers for r in cifar],
        "parameters (residual)": [r.params for r in cifar],
        "parameters (plain twin)": [r.plain_params for r in cifar],
        "paper (M)": [r.paper_params_m for r in cifar],
        "MMACs at 32×32": [round(r.macs / 1e6, 1) for r in cifar],
        "paper test error %": [r.paper_test_error for r in cifar],
    }), hide_index=True, column_config={"parameters (residual)": NUMBER, "parameters (plain twin)": NUMBER})
    st.markdown(
        "Counted from `resnet.nets.cifar_resnet`: 16/32/64 filters on 32/16/8 maps, global average pooling, a "
        "10-way fully connected layer. Option A's shortcuts have no parameters, so each plain twin has exactly "
        "the residual net's parameter count. The test errors are the paper's, trained on CIFAR-10 for 64k "
        "iterations; this page trains nothing."
    )


def anatomy_section() -> None:
    """One block variant, drawn from its module structure, with its cost."""
    st.subheader("Block anatomy")
    st.markdown(
        "The diagram is read from the block itself: `torch.fx` traces its forward pass, and each operation "
        "appears in the order it runs, with its output shape, parameters and multiply-adds for a "
        f"{MAP_SIZE}×{MAP_SIZE} input (conv2_x of ResNet-34/50). F runs down the middle; the shortcut is blue."
    )
    left, right = st.columns([1, 1], gap="large")
    c1, c2 = right.columns([1, 2])
    block = c1.radio("Block", ["basic", "bottleneck"], key="arch_block", horizontal=True,
                     help="basic: two 3×3 convs; bottleneck: 1×1 reduce, 3×3, 1×1 expand ×4")
    shortcut = c2.selectbox("Shortcut", list(SHORTCUT_LABELS), format_func=SHORTCUT_LABELS.get, key="arch_shortcut")
    c3, c4, c5 = right.columns(3)
    preact = c3.toggle("Pre-activation", key="arch_preact", help="BN-ReLU before each conv (He et al. 2016)")
    downsample = c4.toggle("Downsampling", key="arch_downsample",
                           help="stride 2 and twice the channels: the first block of a stage")
    planes = c5.selectbox("3×3 width", [16, 32, 64, 128, 256], index=2, key="arch_planes")
    try:
        graph = _anatomy(block, shortcut, preact, downsample, planes)
    except ValueError as err:
        right.error(str(err))
        return
    shortcut_params = sum(n["params"] for n in graph["nodes"] if n["path"] == "shortcut")
    shortcut_macs = sum(n["macs"] for n in graph["nodes"] if n["path"] == "shortcut")
    m1, m2, m3 = right.columns(3)
    m1.metric("Parameters", f"{graph['params']:,}")
    m2.metric("Multiply-adds", human(graph["macs"]), help=f"{graph['macs']:,} (FLOPs = 2×)")
    m3.metric("Shortcut parameters", f"{shortcut_params:,}", help=f"{shortcut_macs:,} multiply-adds")
    left.graphviz_chart(block_dot(graph), width="stretch")
    right.markdown("**Operations in forward order**")
    right.dataframe(pd.DataFrame([
        {"operation": n["label"], "path": n["path"], "output": "×".join(map(str, n["shape"])),
         "parameters": n["params"], "multiply-adds": n["macs"]}
        for n in graph["nodes"] if n["kind"] not in ("input", "output")
    ]), hide_index=True, height="content", column_config={"parameters": NUMBER, "multiply-adds": NUMBER})
    right.caption(
        "Post-activation (the 2015 paper): conv-BN-ReLU-conv-BN, add, ReLU. Pre-activation (2016): BN-ReLU "
        "open each layer and nothing follows the addition, so the shortcut path stays an identity from block "
        "to block. Under pre-activation a projection takes the pre-activated input (the BN-ReLU is shared with F), "
        "an identity shortcut takes x itself. "
        "Option A subsamples and pads with zeros; B and C add a strided 1×1 conv and BN."
    )


def bottleneck_section() -> None:
    """Basic vs bottleneck blocks at equal output width (Fig. 5)."""
    st.subheader("Why bottlenecks")
    graphs = _bottlenecks()
    st.plotly_chart(layer_cost_figure(graphs, map_size=MAP_SIZE), theme=None)
    basic64, bottle, basic256 = graphs
    share = sum(n["macs"] for n in bottle["nodes"] if n["kind"] == "conv" and "3×3" in n["label"]) / bottle["macs"]
    st.markdown(
        f"Fig. 5 of the paper, measured at {MAP_SIZE}×{MAP_SIZE}. With 256 channels in and out, the bottleneck "
        f"(1×1 to 64, 3×3 at 64, 1×1 back to 256) costs **{human(bottle['macs'])} multiply-adds and "
        f"{bottle['params']:,} parameters**; two 3×3 convolutions at 256 cost {human(basic256['macs'])} and "
        f"{basic256['params']:,}: {basic256['macs'] / bottle['macs']:.0f}× more. The bottleneck costs about what "
        f"the 64-d basic block of ResNet-34 costs ({human(basic64['macs'])}, {basic64['params']:,} parameters) "
        f"while carrying 4× the width between blocks. Its single 3×3 is {share:.0%} of its multiply-adds; in a "
        "basic block the two 3×3s are all of them. This is why ResNet-50 costs little more than ResNet-34."
    )


def shortcut_section() -> None:
    """Identity vs projection shortcuts, per stage."""
    st.subheader("What the shortcuts cost")
    depth = st.select_slider("CIFAR ResNet depth", CIFAR_DEPTHS, value=56, key="arch_cifar_depth")
    costs = _shortcut_costs(depth)
    st.plotly_chart(shortcut_cost_figure(costs), theme=None)
    total = {opt: sum(s["params"] for s in stages) for opt, stages in costs.items()}
    extra = {opt: sum(s["shortcut_params"] for s in stages) for opt, stages in costs.items()}
    identity, projected = _anatomy("bottleneck", "A", False, False, 64), _anatomy("bottleneck", "C", False, False, 64)
    st.markdown(
        f"ResNet-{depth} on CIFAR-10. An identity shortcut has **zero parameters and zero multiply-adds**: option A "
        f"adds nothing to the blocks' {total['A']:,} parameters. Option B projects only where the shape changes: "
        f"{extra['B']:,} parameters, {extra['B'] / total['B']:.2%} of the blocks' {total['B']:,}; option C projects "
        f"on every block: {extra['C']:,}, {extra['C'] / total['C']:.1%} of {total['C']:,}. "
        "In the paper's Table 3 (ImageNet, ResNet-34) B is slightly better than A and C marginally better "
        "than B; the differences are small, so projections are not essential to the degradation problem, "
        "and the paper does not use C.\n\n"
        "Identities matter most in bottlenecks, where the shortcut joins the two 256-d ends: a projection on the "
        f"256-d bottleneck of ResNet-50 takes it from {identity['params']:,} to {projected['params']:,} parameters "
        f"({projected['params'] / identity['params']:.1f}×) and from {human(identity['macs'])} to "
        f"{human(projected['macs'])} multiply-adds ({projected['macs'] / identity['macs']:.1f}×) at "
        f"{MAP_SIZE}×{MAP_SIZE}."
    )
    r50 = _resnet50_shortcuts()
    st.markdown("**torchvision's ResNet-50 at 224×224**: a projection opens each stage, identities elsewhere.")
    st.dataframe(pd.DataFrame({
        "stage": [s["stage"] for s in r50],
        "blocks": [s["blocks"] for s in r50],
        "projections": [s["projections"] for s in r50],
        "shortcut parameters": [s["shortcut_params"] for s in r50],
        "share of stage parameters": [f"{s['shortcut_params'] / s['params']:.1%}" for s in r50],
        "shortcut multiply-adds": [s["shortcut_macs"] for s in r50],
        "share of stage multiply-adds": [f"{s['shortcut_macs'] / s['macs']:.1%}" for s in r50],
    }), hide_index=True, column_config={"shortcut parameters": NUMBER, "shortcut multiply-adds": NUMBER})


def identity_section(seed: int) -> None:
    """dL/dx = dL/dy (dF/dx + I), checked in float64, and the singular values it moves."""
    st.subheader("The gradient identity, checked")
    st.latex(r"y = F(x) + x \quad\Rightarrow\quad \frac{\partial L}{\partial x} = "
             r"\frac{\partial L}{\partial y}\left(\frac{\partial F}{\partial x} + I\right)")
    c1, c2 = st.columns([1, 3])
    labels = {"basic": "basic block", "bottleneck": "bottleneck block", "mlp": "MLP unit (tanh)"}
    block = c1.radio("Block", list(labels), format_func=labels.get, key="arch_id_block")
    preact = c1.toggle("Pre-activation", key="arch_id_preact")
    try:
        check = _identity(block, preact, seed)
    except ValueError as err:
        st.error(str(err))
        return
    dims = int(np.prod(check.input_shape))
    c1.metric("Relative error", f"{check.relative_error:.1e}", help="|autograd − formula| / |autograd|, float64")
    c1.metric("Input dimensions", f"{dims:,}", help="×".join(map(str, check.input_shape)) + ", batch of one")
    if check.activation_after_sum:
        where = ("Here y is the sum F(x) + x. This post-activation block applies a ReLU after the sum; that ReLU "
                 "lies on the loss's side of y, so ∂L/∂y carries its 0/1 mask and the identity is exact.")
    else:
        where = ("Here y is the unit's output, F(x) + x: nothing follows the sum"
                 + (" (F opens with BN-ReLU)." if preact and block != "mlp" else "."))
    plain_near, res_near = (float(np.mean((sv > 0.5) & (sv < 2.0)))
                            for sv in (check.singular_plain, check.singular_residual))
    plain_zero = int(np.sum(check.singular_plain < SINGULAR_FLOOR))
    c2.markdown(
        f"One {labels[block]} at initialisation (the engine's own init), in float64"
        + (", batch norm in training mode. " if block != "mlp" else ", no normalisation. ")
        + f"∂L/∂x by autograd through the unit, and by ∂L/∂y (∂F/∂x + I) with ∂F/∂x the full "
        f"{dims}×{dims} Jacobian: they agree to **{check.relative_error:.1e}** (machine precision is ~1e-16). "
        f"{where}\n\n"
        f"The singular values of ∂F/∂x (plain) and ∂F/∂x + I (residual): {plain_near:.0%} of the plain unit's "
        f"lie within a factor of 2 of 1, against {res_near:.0%} of the residual unit's; {plain_zero} of the plain "
        f"unit's {dims} are numerically zero (below {SINGULAR_FLOOR:g}). A direction v that the plain unit "
        "flattens (∂F/∂x v = 0) leaves the residual unit unchanged in size: (∂F/∂x + I) v = v."
    )
    c2.plotly_chart(singular_value_figure(check.singular_plain, check.singular_residual,
                                          title=f"Singular values of dy/dx, {labels[block]}"
                                                + (", pre-activation" if preact else "")), theme=None)


st.title("Architecture")
st.markdown("The ResNet family, the residual block and its shortcuts, computed from the modules rather than copied "
            "from the paper (He et al. 2015, arXiv:1512.03385).")
family, anatomy, bottlenecks, shortcuts, identity = st.tabs(
    ["Family", "Block anatomy", "Why bottlenecks", "Shortcut cost", "Gradient identity"])
with family:
    family_section()
with anatomy:
    anatomy_section()
with bottlenecks:
    bottleneck_section()
with shortcuts:
    shortcut_section()
with identity:
    identity_section(int(st.session_state.get("seed", 0)))
