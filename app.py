"""Gradient Flow Lab: the router. Pages live in pages/; the sidebar holds device and seed."""

import streamlit as st

from pages.common import ensure_defaults, mark_routed, sidebar_settings

st.set_page_config(page_title="Gradient Flow Lab", page_icon="🌊", layout="wide")
ensure_defaults()
in_talk = "talk" in st.query_params  # /?talk=NAME opens talk mode at the root address

navigation = st.navigation({
    "Train": [
        st.Page("pages/gradient_flow.py", title="Gradient flow", icon=":material/waves:",
                default=not in_talk),
        st.Page("pages/degradation.py", title="Degradation", icon=":material/trending_down:", url_path="degradation"),
        st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs"),
        st.Page("pages/talk.py", title="Talk", icon=":material/slideshow:", url_path="talk", default=in_talk),
    ],
    "Understand": [
        st.Page("pages/architecture.py", title="Architecture", icon=":material/account_tree:", url_path="architecture"),
        st.Page("pages/attributions.py", title="Attributions", icon=":material/search:", url_path="attributions"),
        st.Page("pages/lesion.py", title="Lesion study", icon=":material/content_cut:", url_path="lesion"),
        st.Page("pages/landscape.py", title="Loss landscape", icon=":material/landscape:", url_path="landscape"),
        st.Page("pages/shattered.py", title="Shattered gradients", icon=":material/scatter_plot:",
                url_path="shattered"),
        st.Page("pages/your_model.py", title="Your model", icon=":material/upload_file:", url_path="your-model"),
    ],
})
sidebar_settings()
mark_routed()
navigation.run()
