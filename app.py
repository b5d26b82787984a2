"""Gradient Flow Lab: the router. Pages live in pages/; the sidebar holds device and seed."""

import streamlit as st

from pages.common import ensure_defaults, mark_routed, sidebar_settings

st.set_page_config(page_title="Gradient Flow Lab", page_icon="🌊", layout="wide")
ensure_defaults()

navigation = st.navigation({
    "Train": [
        st.Page("pages/gradient_flow.py", title="Gradient flow", icon="🌊", default=True),
        st.Page("pages/degradation.py", title="Degradation", icon="📉", url_path="degradation"),
        st.Page("pages/runs.py", title="Runs", icon="🗂️", url_path="runs"),
    ],
    "Understand": [
        st.Page("pages/architecture.py", title="Architecture", icon="🧱", url_path="architecture"),
        st.Page("pages/attributions.py", title="Attributions", icon="🔎", url_path="attributions"),
        st.Page("pages/lesion.py", title="Lesion study", icon="✂️", url_path="lesion"),
        st.Page("pages/landscape.py", title="Loss landscape", icon="🏔️", url_path="landscape"),
        st.Page("pages/shattered.py", title="Shattered gradients", icon="🔀", url_path="shattered"),
    ],
})
sidebar_settings()
mark_routed()
navigation.run()
