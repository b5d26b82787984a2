"""Helpers shared by the pages: the router guard and the sidebar's device and seed."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

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


def require_router(page_file: str) -> None:
    """Make sure this page runs inside app.py's router; if not, hand over to it and rerun.

    On a fresh server, until app.py has run once, Streamlit treats a folder named pages/ as its
    older multipage layout and runs a page opened by its own address on its own: no router, no
    sidebar settings. Calling st.navigation switches that layout off for the process, so the
    rerun goes through app.py, which then routes the same address to this page (pages are
    matched by their URL path, which both layouts take from the file name).
    """
    if st.session_state.pop(ROUTED, False) or st.session_state.get(REROUTED):
        return  # routed, or rerouted once already (a page run on its own, as in a test, runs as it is)
    st.session_state[REROUTED] = True
    st.navigation([st.Page(page_file, url_path=Path(page_file).stem)], position="hidden")
    st.rerun()
