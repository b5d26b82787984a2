"""Degradation: plain and residual CNNs at several depths, trained live, as in Fig. 1, 6 and 7 of He et al."""

from __future__ import annotations

import streamlit as st

from pages.charts import chart
from pages.common import ensure_defaults, require_router
from resnet.data import default_root
from resnet.store import RunStore, StoreError
from resnet.sweeps.grid import MAX_SEEDS, PAPER_DEPTHS, check_sweep, sweep_datasets
from resnet.sweeps.jobs import RaySweepJob, SweepJob, sweep_job
from resnet.sweeps.ray_tune import ray_address
from resnet.trainer import TrainConfig
from resnet.views import sweep_view
from viz.degradation import (
    degradation_text,
    error_curves_figure,
    error_vs_depth_figure,
    gradient_text,
    response_std_figure,
    responses_text,
)
from viz.sweepview import SweepView

WIDTHS = (4, 8, 16)  # first-stage filters; the paper uses 16, width 8 keeps a CPU sweep in minutes


@st.cache_data(max_entries=32, show_spinner=False)
def load_sweep(path: str, tag: str, signature: tuple) -> SweepView:
    """Sweep `tag` of the store at `path`; `signature` (ids, steps, statuses) changes whenever its runs do."""
    return sweep_view(RunStore(path), tag)


def start_sweep(store: RunStore, dataset: str, depths: list[int], nets: list[str], steps: int,
                width: int, seeds: int, cluster: str | None) -> None:
    """Validate the form and start the session's sweep in worker processes, or say what is wrong."""
    residual = [n == "Residual" for n in nets]
    previous = sweep_job(st.session_state.get("deg_started", ""))
    if previous is not None and previous.alive:
        st.warning("This session's sweep is still training: stop it first, or wait for it to finish.")
        return
    try:
        check_sweep(sorted(depths), residual, int(steps), int(seeds))
        base = TrainConfig(dataset=dataset, seed=int(st.session_state["seed"]),
                           device=st.session_state["device"]).replace(family="cnn", width=int(width))
        if cluster:  # the Tune driver runs as a job of the job server, not in this server
            job = RaySweepJob(store, base, sorted(depths), steps=int(steps), seeds=int(seeds), nets=residual,
                              address=cluster)
        else:
            job = SweepJob(store, base, sorted(depths), steps=int(steps), seeds=int(seeds), nets=residual)
        job.start()
    except ValueError as err:  # a bad knob, or the job server's line is full
        st.warning(str(err))
        return
    st.session_state["deg_started"] = st.session_state["deg_sweep"] = job.tag


require_router()
ensure_defaults()
st.title("Degradation: deeper plain nets train worse")
st.markdown(
    "He et al. (2015) found that a 56-layer plain CNN has **higher training error** than a 20-layer one "
    "(Fig. 1): not overfitting, an optimisation difficulty. With shortcuts the deeper net is better (Fig. 6). "
    "Train both kinds here, side by side on this machine's cores, and see whether it happens on your screen."
)

try:
    store = RunStore()
except StoreError as err:
    st.error(str(err))
    st.stop()

mine = sweep_job(st.session_state.get("deg_started", ""))
running = mine is not None and mine.alive  # this session's sweep: one at a time

with st.form("deg_form", border=True):
    c1, c2, c3, c4, c5, c6 = st.columns([1.2, 2, 1.4, 1, 1, 0.8])
    datasets = sweep_datasets()
    dataset = c1.selectbox("Data set", datasets, key="deg_dataset",
                           help="digits: scikit-learn's 8x8 digits at 16x16, offline")
    depths = c2.multiselect("Depths", PAPER_DEPTHS, default=[20, 56], key="deg_depths",
                            help="6n+2 layers, as in the paper")
    nets = c3.multiselect("Nets", ["Plain", "Residual"], default=["Plain", "Residual"], key="deg_nets")
    steps = c4.number_input("Steps", min_value=10, max_value=20_000, value=400, step=50, key="deg_steps",
                            help="iterations per net (batch 128, SGD lr 0.1, momentum 0.9, wd 1e-4)")
    width = c5.select_slider("Width", WIDTHS, value=8, key="deg_width", help="first-stage filters; the paper uses 16")
    seeds = c6.number_input("Seeds", min_value=1, max_value=MAX_SEEDS, value=1, key="deg_seeds",
                            help="runs per net from the sidebar's seed on; the figures show their mean and min-max")
    address = ray_address()
    on_ray = address is not None and st.toggle(
        f"On the Ray cluster at {address}", key="deg_ray",
        help="each run a Ray Tune trial on the cluster ($GFL_RAY_ADDRESS); rows come back to this machine's store")
    submitted = st.form_submit_button("Train", type="primary", disabled=running, key="deg_train")
if "cifar10" not in datasets:
    st.caption(f"CIFAR-10 appears here once a local copy sits under `{default_root()}` (torchvision's "
               "`cifar-10-batches-py` folder); the app never downloads it.")
if submitted:
    start_sweep(store, dataset, depths, nets, steps, width, seeds, address if on_ray else None)

sweeps = store.sweeps()
tags = [t for t, _, _ in sweeps]
started = st.session_state.get("deg_started")
if started and started not in tags and sweep_job(started) is not None:
    tags.insert(0, started)  # its first run is not in the store yet
if not tags:
    st.info("No sweep in the store yet: choose depths and press **Train**. Recorded sweeps (also from "
            "`python -m resnet sweep`) appear here, even after a restart.")
    st.stop()
if st.session_state.get("deg_sweep") not in tags:
    st.session_state["deg_sweep"] = tags[0]
tag = st.selectbox("Sweep", tags, key="deg_sweep", help="every sweep recorded in the run store, newest first")


job = sweep_job(tag)
watching = job is not None and job.alive
if watching:
    st.caption("The sweep trains in worker processes to its end, whether or not this tab stays open: "
               "come back to this page to see it. Each running run takes one of the server's training slots.")
    if st.button("Stop", key="deg_stop", help="stop this sweep after the current step, for everyone watching it; "
                                              "what it trained stays in the store"):
        job.stop()


@st.fragment(run_every=1.0 if watching else None)
def results(tag: str) -> None:
    """Progress and figures of one sweep, redrawn every second while it trains."""
    if job is not None:
        if job.alive:
            p = job.progress()
            st.progress(min(1.0, p.fraction), text=p.text)
        elif job.state == "failed":
            st.error(f"The sweep failed: {job.error or '; '.join(job.failures)}")
        elif job.state == "stopped":
            st.warning("The sweep was stopped; what it trained is kept below.")
        for line in job.failures if job.state != "failed" else []:
            st.warning(f"A run failed: {line}")
    if watching and not job.alive:
        st.rerun()  # training ended: redraw the whole page once, without the timer
    runs = store.runs(sweep=tag)
    if not runs:
        st.caption("Waiting for the first steps...")
        return
    view = load_sweep(str(store.path), tag, tuple((r.id, r.steps, r.status) for r in runs))
    if view.curves:
        chart(error_curves_figure(view.curves), key=f"deg_curves_{tag}", moving=watching)
    for line in degradation_text(view.results):
        st.markdown(f"- {line}")
    if view.gradient is not None:
        st.markdown(gradient_text(*view.gradient))
    left, right = st.columns([3, 2])
    with left:
        if view.results:
            chart(error_vs_depth_figure(view.results), key=f"deg_depth_{tag}", moving=watching)
    with right:
        st.dataframe(view.table, hide_index=True,
                     column_config={"training error": st.column_config.NumberColumn(format="percent"),
                                    "test error": st.column_config.NumberColumn(format="percent")})
    if view.responses:
        chart(response_std_figure(view.responses), key=f"deg_resp_{tag}", moving=watching)
        for line in responses_text(view.responses):
            st.markdown(f"- {line}")
    else:
        st.caption("Fig. 7 appears when a net has finished training.")

results(tag)
