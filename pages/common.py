"""Helpers shared by the pages: the router guard and the sidebar's device and seed."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from resnet.devices import available_devices

ROUTED = "_routed"  # set by app.py on every run, taken by the page it routes to
REROUTED = "_rerouted"  # a page handed over to the router once in this session


def sidebar_settings() -> tuple[str, int]:
    """Draw the shared sidebar (device, seed) and return the chosen (device, seed).

    The values live under plain keys ("device", "seed") that the widgets copy into on change:
    Streamlit drops a widget's own key in runs that do not draw it, and pages read these anywhere.
    """
    devices = ["auto", *available_devices()]
    if st.session_state["device"] not in devices:
        st.session_state["device"] = "auto"
    st.session_state["sidebar_device"] = st.session_state["device"]
    st.session_state["sidebar_seed"] = int(st.session_state["seed"])
    st.sidebar.selectbox("Device", devices, key="sidebar_device", on_change=_copy, args=("device",),
                         help="auto picks CUDA, then Apple MPS, then the CPU")
    st.sidebar.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="sidebar_seed",
                            on_change=_copy, args=("seed",),
                            help="same seed, same device: the same run, step for step")
    return st.session_state["device"], int(st.session_state["seed"])


def _copy(name: str) -> None:
    st.session_state[name] = st.session_state[f"sidebar_{name}"]


def ensure_defaults() -> None:
    """Initialise the shared sidebar state once per session (the seed may come from the link)."""
    st.session_state.setdefault("device", "auto")
    if "seed" not in st.session_state:
        text = st.query_params.get("seed", "0")
        st.session_state["seed"] = int(text) if text.isdigit() and int(text) < 2**31 else 0


def mark_routed() -> None:
    """Called by app.py just before it runs the chosen page."""
    st.session_state[ROUTED] = True


def require_router() -> None:
    """Make sure this page runs inside app.py's router; if not, hand over to it and rerun.

    On a fresh server, until app.py has run once, Streamlit treats a folder named pages/ as its
    older multipage layout and runs a page opened by its own address on its own: no router, no
    sidebar settings. The rerun goes through app.py once that layout is off, and app.py routes
    the same address to this page (both layouts take the URL path from the file name). The flag
    is the one st.navigation clears; clearing it here rather than calling st.navigation with
    this page alone avoids Streamlit's "Page not found" notice (a lone page is served at "/").
    """
    if st.session_state.pop(ROUTED, False) or st.session_state.get(REROUTED):
        return  # routed, or rerouted once already (a page run on its own, as in a test, runs as it is)
    st.session_state[REROUTED] = True
    PagesManager.uses_pages_directory = False
    st.rerun()
