"""Helpers shared by the analysis pages: choosing a pair, running an analysis as a job, cached results.

The work runs in a worker process (resnet/analysis/jobs.py, through the job server), never in
the Streamlit server, so no session freezes while another computes. Run submits a job; a fragment
polls it (progress, place in line, Cancel) and hands over to the whole page once it has ended.
Finished results are cached with st.cache_data, so a second visit is instant; the job itself is
this session's and lives in st.session_state.
"""

from __future__ import annotations

import datetime
from typing import Any

import streamlit as st

from resnet.analysis.jobs import PairSource, PairSummary
from resnet.analysis.pairs import DEFAULT_PRESET, PRESETS, stored_candidates
from resnet.jobs import JobError, job_server
from resnet.jobs.handles import ENDED
from resnet.store import RunInfo, RunStore, StoreError, default_store_path

SOURCES = ("Train a preset here", "Two runs from the run store")
POLL_S = 0.5  # how often a running job's progress is redrawn


@st.cache_data(show_spinner=False, max_entries=32)
def _result(key: tuple, _value=None):
    # A miss raises, and Streamlit caches no exception: a lookup never stores anything.
    if _value is None:
        raise KeyError(key)
    return _value


def submit(name: str, key: tuple, target: str, **kwargs) -> None:
    """On Run: the result cached under `key` at once, else a job calling `target(**kwargs)` in a worker."""
    try:
        st.session_state[name] = {"key": key, "job": None, "result": _result(key)}
        return
    except KeyError:
        pass
    try:
        job = job_server().call(target, needs_viewer=True, **kwargs)
    except JobError as err:  # the line is full, or the server is shutting down
        st.error(str(err))
        return
    st.session_state[name] = {"key": key, "job": job, "result": None}


def outcome(name: str, what: str) -> Any | None:
    """The result of this page's latest Run, or None (its job still running, failed or cancelled: said here)."""
    entry = st.session_state.get(name)
    if entry is None:
        return None
    job = entry["job"]
    if job is None:
        if entry.get("cancelled"):
            st.info(f"{what}: cancelled.")
        return entry["result"]
    if job.state == "done":
        entry["result"], entry["job"] = _result(entry["key"], job.result), None
        return entry["result"]
    if job.state == "failed":
        st.error(f"{what} failed: {job.message}")
    elif job.state in ENDED:
        st.info(f"{what}: cancelled.")
    else:
        _follow(name, what)
    return None


@st.fragment(run_every=POLL_S)
def _follow(name: str, what: str) -> None:
    """Progress of this page's running job, redrawn every POLL_S; the whole page reruns once it has ended."""
    entry = st.session_state.get(name)
    job = entry["job"] if entry is not None else None
    if job is None:
        return
    job.heartbeat()
    if job.state in ENDED:
        st.rerun()
    if job.state == "queued":
        st.progress(0.0, text=f"{what}: {job.message}")
    else:
        st.progress(min(max(job.fraction, 0.0), 1.0), text=f"{what}: {job.text or 'starting a worker...'}")
    if st.button("Cancel", key=f"{name}_cancel"):
        job.stop()
        # A running call may only notice once it has finished: this session stops waiting for it now.
        entry.update(job=None, result=None, cancelled=True)
        st.rerun()


def _describe(info: RunInfo) -> str:
    started = datetime.datetime.fromtimestamp(info.started).strftime("%m-%d %H:%M")
    c = info.config
    return (f"#{info.id} {info.label} · {c.model.family} width {c.model.width} · {c.dataset} · "
            f"{info.steps} steps · {started}")


def session_device() -> str:
    """The sidebar's device ("auto" until the router has drawn the sidebar)."""
    return st.session_state.get("device", "auto")


def pair_ui() -> PairSource | None:
    """Draw the choice of pair; None (with a message on the page) when the store offers no usable pair."""
    device, seed = session_device(), int(st.session_state.get("seed", 0))
    source = st.radio("Networks", SOURCES, horizontal=True, key="analysis_source",
                      help="a preset trains a plain net and its residual twin (once; then the run store keeps them)")
    if source == SOURCES[0]:
        names = list(PRESETS)
        preset = st.selectbox("Preset", names, index=names.index(DEFAULT_PRESET), key="analysis_preset",
                              format_func=lambda n: PRESETS[n].label)
        return PairSource(str(default_store_path()), preset=preset, device=device, seed=seed)
    try:
        store = RunStore()
        plain_runs, residual_runs = stored_candidates(store)
    except StoreError as err:
        st.error(str(err))
        return None
    if not plain_runs or not residual_runs:
        st.info(f"The run store ({store.path}) has no finished plain and residual runs yet. Train some on the "
                "Degradation or Gradient flow page, or with `python -m resnet train`, then come back.")
        return None
    left, right = st.columns(2)
    plain = left.selectbox("Plain run", plain_runs, format_func=_describe, key="analysis_plain")
    twins = sorted(residual_runs, key=lambda r: (r.config.model.depth != plain.config.model.depth,
                                                 r.config.dataset != plain.config.dataset, -r.id))
    residual = right.selectbox("Residual run", twins, format_func=_describe, key="analysis_residual")
    return PairSource(str(store.path), plain_id=plain.id, residual_id=residual.id, device=device, seed=seed)


def pair_caption(pair: PairSummary) -> str:
    """One line naming the pair and its test errors."""
    plain, residual = pair.test_error
    return (f"Networks: {pair.source}. Test error: plain {100 * plain:.1f}%, residual {100 * residual:.1f}% "
            f"({pair.test_samples} test samples).")
