"""Lesion study (Veit et al. 2016): delete blocks of a trained pair and score the test set."""

from __future__ import annotations

import streamlit as st

from pages.analysis_common import outcome, pair_caption, pair_ui, submit
from pages.common import require_router
from resnet.analysis.jobs import Analysis
from resnet.analysis.lesion import MAX_DRAWS, LesionResult, check_draws
from viz.lesion import lesion_bars, lesion_curve, lesion_text

require_router()

st.title("Lesion study: delete a block")
st.caption(
    "Veit et al. (2016) deleted single blocks of a trained ResNet-110 and its error barely moved, while deleting "
    "any layer of a plain net (VGG) left it at chance: a residual net behaves like an ensemble of many paths, "
    "most of them short. Here the same test on a plain net and its residual twin, trained on identical terms."
)
with st.expander("What deleting a block means here"):
    st.markdown(
        "- **Residual block:** its residual function F is removed and the block passes on its shortcut alone: "
        "y = x, or the shortcut's zero-pad (option A) or projection (B, C) where the shape changes.\n"
        "- **Plain block:** it has no shortcut, so it is skipped: y = x. Where the block changes shape (the first "
        "block of stages 2 and 3, marked ↓), it is replaced by the same parameter-free subsample-and-zero-pad that "
        "option A uses, so both twins lose exactly the same thing.\n"
        "- Accuracy is on the whole test set, BN in eval mode with the trained statistics. Both twins lose the "
        "same random blocks in each draw."
    )

choice = pair_ui()
draws = st.number_input("Random draws for each number of deleted blocks", min_value=1, value=10, step=1,
                        help=f"1 to {MAX_DRAWS}: more draws, a smoother curve and a truer spread")

if st.button("Run", type="primary", disabled=choice is None):
    try:
        draws = check_draws(int(draws))
        submit("lesion_job", ("lesion", choice.key, draws), "resnet.analysis.jobs:lesion", source=choice,
               draws=draws)
    except ValueError as err:
        st.error(str(err))

done: Analysis[LesionResult] | None = outcome("lesion_job", "Lesion study")
if done is not None:
    r = done.result
    st.caption(pair_caption(done.pair) + f" {r.random['plain'].shape[1]} draws per k.")
    left, right = st.columns(2)
    left.plotly_chart(lesion_bars(r.block_names, r.single, r.intact, r.chance, r.shape_changing))
    right.plotly_chart(lesion_curve(r.k, r.random, r.chance))
    for line in lesion_text(r.block_names, r.single, r.intact, r.k, r.random, r.chance):
        st.markdown(f"- {line}")
elif "lesion_job" not in st.session_state:
    st.info("Press **Run** to train the pair (once) and delete its blocks.")
