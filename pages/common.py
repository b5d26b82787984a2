"""Helpers shared by the pages: the sidebar's device and seed, and URL query parameters."""

from __future__ import annotations

import streamlit as st

from resnet.devices import available_devices


def sidebar_settings() -> tuple[str, int]:
    """Draw the shared sidebar (device, seed) and return the chosen (device, seed)."""
    devices = ["auto", *available_devices()]
    st.sidebar.selectbox("Device", devices, key="device",
                         help="auto picks CUDA, then Apple MPS, then the CPU")
    st.sidebar.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                            help="same seed, same device: the same run, step for step")
    return st.session_state["device"], int(st.session_state["seed"])


def ensure_defaults() -> None:
    """Initialise the shared sidebar state once per session (the seed may come from the link)."""
    st.session_state.setdefault("device", "auto")
    if "seed" not in st.session_state:
        text = st.query_params.get("seed", "0")
        st.session_state["seed"] = int(text) if text.isdigit() and int(text) < 2**31 else 0
