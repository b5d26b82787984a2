"""Shattered gradients (Balduzzi et al. 2017): input gradients along a line, plain vs residual, against depth."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.analysis_common import outcome, session_device, submit
from pages.common import require_router
from resnet.analysis.shattered import (
    MAX_DEPTH,
    MAX_SEEDS,
    MAX_STEPS,
    POINTS,
    SEGMENT,
    ShatteredResult,
    check_shattered,
)
from resnet.store import default_store_path
from viz.shattered import autocorrelation_curves, gradient_traces, lag1_vs_depth, shattered_text

require_router()

DEPTH_CHOICES = [1, 2, 3, 5, 10, 20, 30, 50, 100]

st.title("Shattered gradients: noise with depth")
st.caption(
    "Balduzzi et al. (2017) fed a line of inputs through ReLU nets and plotted the gradient along it. A shallow "
    "net's gradient wanders smoothly (brown noise); a deep plain net's looks like white noise, so nearby inputs "
    "get unrelated gradients; a resnet's stays far more correlated. The correlation of gradients at nearby "
    "inputs decays exponentially with depth in plain nets and far more slowly with skips."
)
with st.expander("The setup"):
    (x0, y0), (x1, y1) = SEGMENT
    st.markdown(
        "- ReLU MLPs on the 2-D spirals data, He-normal weights (the paper's initialisation), plain and residual "
        "twins from the same draw. Residual units compute y = x + ReLU(norm(Wx + b)).\n"
        f"- The inputs run along the segment from ({x0:g}, {y0:g}) to ({x1:g}, {y1:g}) in standardised units; "
        "on it the net is a function of one variable t, as the paper's 1-D-input nets, and the plot shows "
        "d logit₀ / dt.\n"
        "- The autocorrelation of that gradient (mean removed) at lag k compares the gradient at each point with "
        "the one k points further on: near 1 for a smooth curve, near 0 for noise. Initialisation curves average "
        "several draws of the weights; the trained nets (Adam, lr 1e-3, batch 128 on spirals) are the first "
        "draw's.\n"
        "- Batch norm runs in eval mode with statistics measured on the training set, so every point's gradient "
        "is its own, at initialisation too. Without normalisation the residual stack's forward signal grows "
        "with depth (its correlation does not care)."
    )

c1, c2, c3 = st.columns([2, 1, 1])
depths = c1.multiselect("Depths (blocks)", DEPTH_CHOICES, default=[2, 5, 10, 20, 50],
                        help=f"1 to {MAX_DEPTH} blocks each")
norm = c2.selectbox("Normalisation", ["batch", "none"],
                    help="batch: BN in every unit; none: the BN-free He-initialised nets of the paper's theory")
width = c3.number_input("Width", min_value=1, value=64, step=16)
c4, c5, c6 = st.columns(3)
points = c4.number_input("Points on the segment", min_value=1, value=256, step=64, help=f"{POINTS[0]} to {POINTS[1]}")
seeds = c5.number_input("Draws at initialisation", min_value=1, value=3, step=1, help=f"1 to {MAX_SEEDS}")
steps = c6.number_input("Training steps (0: initialisation only)", min_value=0, value=100, step=50,
                        help=f"0 to {MAX_STEPS}")

if st.button("Run", type="primary"):
    settings = dict(depths=tuple(sorted(depths)), width=int(width), norm=norm, points=int(points), seeds=int(seeds),
                    steps=int(steps))
    try:
        check_shattered(**settings)
        device = session_device()  # resolved in the worker: the server process touches no accelerator
        # The store keeps the result, so a talk replays it without computing.
        submit("shattered_job", ("shattered", *settings.values(), device), "resnet.analysis.jobs:shattered",
               **settings, device=device, store=str(default_store_path()))
    except ValueError as err:
        st.error(str(err))

r: ShatteredResult | None = outcome("shattered_job", "Shattered gradients")
if r is not None:
    st.caption(f"Width {r.width}, normalisation {r.norm}, {len(r.t)} points, "
               f"{r.acf[('init', 'plain')].shape[1]} draws at initialisation, {r.steps} training steps.")
    lag1 = {key: r.lag1(*key) for key in r.acf}
    for sentence in shattered_text(r.depths, lag1, norm=r.norm, train_error=r.train_error, diverged=r.diverged):
        st.markdown(f"- {sentence}")
    left, right = st.columns(2)
    left.plotly_chart(lag1_vs_depth(r.depths, lag1))
    depth = right.selectbox("Depth for the autocorrelation", r.depths, index=len(r.depths) - 1)
    i = r.depths.index(depth)
    lags = np.arange(r.acf[("init", "plain")].shape[2])
    right.plotly_chart(autocorrelation_curves(lags, {k: v[i].mean(axis=0) for k, v in r.acf.items()}, depth=depth))
    stages = ["init", "trained"] if r.steps else ["init"]
    stage = st.radio("Gradients", stages, horizontal=True,
                     format_func=lambda s: "at initialisation" if s == "init" else "after training")
    st.plotly_chart(gradient_traces(r.t, r.depths, {twin: r.gradient[(stage, twin)] for twin in ("plain", "residual")},
                                    stage=stage))
elif "shattered_job" not in st.session_state:
    st.info("Press **Run** to build the nets at each depth and follow their gradients along the line.")
