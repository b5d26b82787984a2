"""Attributions (Captum): which blocks of a trained pair carry a prediction, and which pixels it rests on."""

from __future__ import annotations

import streamlit as st

from pages.analysis_common import outcome, pair_caption, pair_ui, submit
from pages.common import require_router
from resnet.analysis.attributions import MAX_IMAGES, SAMPLES, STEPS, check_attribution_settings
from resnet.analysis.jobs import Analysis, Attributions
from viz.attributions import attribution_maps, attribution_text, block_share_bars, completeness_text

require_router()

st.title("Attributions: where a prediction flows")
st.caption(
    "Conductance (Dhamdhere et al. 2018) measures how much of a prediction flows through a hidden layer: "
    "integrated gradients of the input, routed through that layer's neurons. Applied to the output of each "
    "block's residual function F, it shows how the twins spread a prediction over their blocks."
)
with st.expander("What the bars and maps measure"):
    st.markdown(
        "- **Bars:** for the first test images, the target is each image's true label. For every block, Captum's "
        "`LayerConductance` on the output of F (after its last BN, before the addition) is summed over the "
        "block's neurons and the images, and divided by the summed change of the label's logit from the "
        "baseline (the mean image) to the input. 1 means the whole change flows through this block's F.\n"
        "- **Maps:** `IntegratedGradients` (same baseline; red pushes the label's logit up, blue down) and "
        "`Saliency` (|d logit / d pixel|) of the chosen test images, for both twins, each row on one scale."
    )

choice = pair_ui()
c1, c2, c3 = st.columns(3)
samples = c1.number_input("Test images for the bars", min_value=1, value=32, step=8,
                          help=f"{SAMPLES[0]} to {SAMPLES[1]}")
n_steps = c2.number_input("Integration steps", min_value=1, value=32, step=8, help=f"{STEPS[0]} to {STEPS[1]}")
images = c3.text_input("Test images for the maps (indices)", value="0, 1, 2, 3",
                       help=f"up to {MAX_IMAGES} indices into the test set, separated by commas")


def parse_indices(text: str) -> list[int]:
    """Comma-separated test-image indices; a ValueError that says what is expected."""
    try:
        return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"test images must be whole numbers separated by commas, got {text!r}") from None


if st.button("Run", type="primary", disabled=choice is None):
    try:
        indices = parse_indices(images)
        check_attribution_settings(int(samples), int(n_steps), indices)
        settings = dict(samples=int(samples), n_steps=int(n_steps), indices=tuple(indices))
        submit("attribution_job", ("attributions", choice.key, *settings.values()), "resnet.analysis.jobs:attributions",
               source=choice, **settings)
    except ValueError as err:
        st.error(str(err))

done: Analysis[Attributions] | None = outcome("attribution_job", "Attributions")
if done is not None:
    blocks, maps = done.result.blocks, done.result.inputs
    st.caption(pair_caption(done.pair) + f" Bars: first {blocks.samples} test samples, {blocks.n_steps} integration "
               "steps.")
    st.plotly_chart(block_share_bars(blocks.block_names, blocks.share))
    for sentence in attribution_text(blocks.share, blocks.block_names, blocks.n_steps):
        st.markdown(f"- {sentence}")
    if maps is None:  # a pair trained on points (an MLP on spirals, say) has no images to draw maps on
        st.info(f"Input attributions draw images; the {done.pair.dataset} data set has none, so only the blocks' "
                "shares are shown.")
    else:
        st.plotly_chart(attribution_maps(maps.images, maps.integrated_gradients, maps.saliency, maps.labels,
                                         maps.predicted, maps.indices))
        st.markdown(f"- {completeness_text(maps.output_change, maps.delta)}")
elif "attribution_job" not in st.session_state:
    st.info("Press **Run** to train the pair (once) and attribute its predictions.")
