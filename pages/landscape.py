"""Loss landscape (Li et al. 2018): the loss around a trained pair's weights along filter-normalised directions."""

from __future__ import annotations

import streamlit as st

from pages.analysis_common import outcome, pair_caption, pair_ui, submit
from pages.common import require_router
from resnet.analysis.jobs import Analysis, Landscapes
from resnet.analysis.landscape import MAX_SPAN, RESOLUTION_1D, RESOLUTION_2D, SAMPLES, check_landscape
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


if st.button("Run", type="primary", disabled=choice is None):
    try:
        settings = dict(resolution=int(resolution), samples=int(samples), span=float(span), points_1d=int(points_1d))
        check_landscape(**settings)
        submit("landscape_job", ("landscape", choice.key, *settings.values()), "resnet.analysis.jobs:landscape",
               source=choice, **settings)
    except ValueError as err:
        st.error(str(err))

done: Analysis[Landscapes] | None = outcome("landscape_job", "Loss landscape")
if done is not None:
    grid, line, pair = done.result.grid, done.result.line, done.pair
    n = len(grid.alphas)
    st.caption(pair_caption(pair) + f" Loss on {grid.samples} training samples; {n}x{n} grid over "
               f"±{grid.alphas[-1]:g}.")
    st.plotly_chart(landscape_contours(grid.alphas, grid.betas, grid.loss))
    for sentence in landscape_text(grid.loss, num_classes=pair.num_classes, depth=pair.depth,
                                   test_error=pair.test_errors):
        st.markdown(f"- {sentence}")
    st.plotly_chart(landscape_surfaces(grid.alphas, grid.betas, grid.loss))
    st.plotly_chart(landscape_line(line.alphas, line.loss, line.accuracy))
elif "landscape_job" not in st.session_state:
    st.info("Press **Run** to train the pair (once) and map the loss around its weights.")
