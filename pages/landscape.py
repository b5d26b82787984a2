"""Loss landscape (Li et al. 2018): the loss around a trained pair's weights along filter-normalised directions."""

from __future__ import annotations

import streamlit as st

from pages.analysis_common import PairChoice, load_pair, pair_caption, pair_ui, progress_bar, remembered
from pages.common import require_router
from resnet.analysis.landscape import (
    MAX_SPAN,
    RESOLUTION_1D,
    RESOLUTION_2D,
    SAMPLES,
    Landscape,
    check_landscape,
    landscape_1d,
    landscape_2d,
)
from viz.landscape import landscape_contours, landscape_line, landscape_surfaces, landscape_text

require_router()

st.title("Loss landscape: around the trained weights")
st.caption(
    "Li et al. (2018) plotted the loss on a plane through the trained weights, spanned by two random directions "
    "scaled filter by filter to the weights they perturb, so that nets of any scale compare. Without skips, "
    "their ResNet-56 and -110 sat in chaotic, cratered landscapes; with skips, in smooth near-convex bowls."
)
with st.expander("How the slice is computed"):
    st.markdown(
        "- Two Gaussian directions d1, d2; each filter (a conv kernel's output channel, a linear layer's row) is "
        "rescaled to the norm of the weight filter it perturbs. Biases and BN parameters get zero, as in the "
        "paper. Both twins get the same random draw, each rescaled to its own weights.\n"
        "- The loss at (a, b) is the cross-entropy of the weights θ + a·d1 + b·d2 on a fixed subset of the "
        "training set, BN in eval mode with the trained statistics; the trained weights sit at the centre.\n"
        "- Colour and height are log10(loss), on one scale for both nets."
    )

choice = pair_ui()
c1, c2, c3, c4 = st.columns(4)
resolution = c1.number_input("Grid points per axis", min_value=1, value=21, step=2,
                             help=f"odd, {RESOLUTION_2D[0]} to {RESOLUTION_2D[1]}; the grid costs its square")
samples = c2.number_input("Training samples", min_value=1, value=128, step=64,
                          help=f"{SAMPLES[0]} to {SAMPLES[1]} samples the loss is averaged over")
span = c3.number_input("Span (±)", min_value=0.01, value=1.0, step=0.25, format="%.2f",
                       help=f"the grid covers [-span, span] along both directions, at most {MAX_SPAN:g}")
points_1d = c4.number_input("Points along the 1-D slice", min_value=1, value=51, step=2,
                            help=f"odd, {RESOLUTION_1D[0]} to {RESOLUTION_1D[1]}")


def run(choice: PairChoice, resolution: int, samples: int, span: float, points_1d: int) -> None:
    """Train or load the pair, compute the slices (drawing the grid row by row), keep the result."""
    pair = load_pair(choice)
    if pair is None:
        return
    key = (pair.key, resolution, samples, span, points_1d, choice.seed)

    def compute_2d() -> Landscape:
        update, clear = progress_bar("Evaluating the grid...")
        live = st.empty()  # the grid so far, redrawn after every row
        try:
            for partial in landscape_2d(pair, resolution=resolution, samples=samples, span=span, seed=choice.seed):
                update(partial.rows_done / len(partial.betas), f"row {partial.rows_done} of {len(partial.betas)}")
                live.plotly_chart(landscape_contours(partial.alphas, partial.betas, partial.loss,
                                                     title="Loss around the trained weights (computing...)"))
            return partial
        finally:
            clear()
            live.empty()

    def compute_1d() -> Landscape:
        with st.spinner("Evaluating the 1-D slice..."):
            return landscape_1d(pair, resolution=points_1d, samples=samples, span=span, seed=choice.seed)

    grid = remembered(("landscape-2d", *key), compute_2d)
    line = remembered(("landscape-1d", *key), compute_1d)
    caption = (pair_caption(pair) + f" Loss on {grid.samples} training samples; {resolution}x{resolution} grid "
               f"over ±{span:g}.")
    errors = dict(zip(("plain", "residual"), pair.test_error, strict=True))
    st.session_state["landscape_result"] = (caption, grid, line, pair.data.num_classes, pair.config.model.depth,
                                            errors)


if st.button("Run", type="primary", disabled=choice is None):
    try:
        check_landscape(int(resolution), int(samples), float(span), int(points_1d))
        run(choice, int(resolution), int(samples), float(span), int(points_1d))
    except ValueError as err:
        st.error(str(err))

if "landscape_result" in st.session_state:
    caption, grid, line, num_classes, depth, errors = st.session_state["landscape_result"]
    st.caption(caption)
    st.plotly_chart(landscape_contours(grid.alphas, grid.betas, grid.loss))
    for sentence in landscape_text(grid.loss, num_classes=num_classes, depth=depth, test_error=errors):
        st.markdown(f"- {sentence}")
    st.plotly_chart(landscape_surfaces(grid.alphas, grid.betas, grid.loss))
    st.plotly_chart(landscape_line(line.alphas, line.loss, line.accuracy))
else:
    st.info("Press **Run** to train the pair (once) and map the loss around its weights.")
