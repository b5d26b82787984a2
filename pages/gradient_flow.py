"""Gradient flow: a plain net and its residual twin train live, side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.common import require_router
from resnet.data import DATASETS
from resnet.layers import ACTS, NORMS
from resnet.nets import BLOCKS
from resnet.presets import PRESETS
from resnet.query import CUSTOM, KNOBS, Setup, setup_from_query, setup_to_query
from resnet.shortcuts import SHORTCUTS
from resnet.store import RunStore, StoreError
from resnet.trainer import FAMILIES, MAX_BATCH, MAX_STEPS, OPTIMIZERS, SCHEDULES, TrainConfig
from resnet.worker import TwinSnapshot, TwinWorker
from viz.gradient_flow import Curves, Grid, block_profile, training_curves, twin_heatmaps
from viz.narrative import describe_twins

require_router()
LIVE_STATES = ("starting", "training")
HEATMAP_POINTS = 600  # columns per heatmap: smooth at 2 Hz however long the run
REDRAW_SECONDS = 0.5


# -- setup: URL <-> widgets ------------------------------------------------------------------
def knob_key(name: str) -> str:
    """Session-state key of a configuration knob's widget."""
    return f"gf_{name}"


def load_setup(setup: Setup) -> None:
    """Put a setup into the widgets' state."""
    st.session_state["gf_preset"] = setup.preset
    for key in KNOBS:
        where, name, _ = KNOBS[key]
        st.session_state[knob_key(key)] = getattr(setup.config.model if where == "model" else setup.config, name)
    st.session_state["gf_steps"] = setup.steps


def on_preset() -> None:
    """A preset was chosen: load its settings into the knobs."""
    slug = st.session_state["gf_preset"]
    if slug != CUSTOM:
        p = PRESETS[slug]
        load_setup(Setup(slug, p.config.replace(seed=int(st.session_state["seed"])), p.steps))


def on_knob() -> None:
    """A knob moved: the setup is no longer a preset's."""
    st.session_state["gf_preset"] = CUSTOM


def current_setup() -> tuple[Setup | None, str]:
    """The setup the widgets describe, or None and the reason it is invalid."""
    values = {KNOBS[k][1]: st.session_state[knob_key(k)] for k in KNOBS}
    values["seed"] = int(st.session_state["seed"])
    try:
        config = TrainConfig(device=st.session_state["device"]).replace(**values)
        steps = int(st.session_state["gf_steps"])
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
        return Setup(st.session_state["gf_preset"], config, steps), ""
    except (ValueError, TypeError) as err:
        return None, str(err)


if "gf_preset" not in st.session_state:
    parsed = setup_from_query(dict(st.query_params), seed=int(st.session_state["seed"]))
    load_setup(parsed)
    st.session_state["gf_warnings"] = parsed.warnings

st.title("Gradient flow: plain vs residual")
st.caption("The same network twice, from the same initial weights and batches: once as a plain stack, once with "
           "identity shortcuts. Only the shortcut differs, so every difference on screen is its doing.")
for message in st.session_state.pop("gf_warnings", []):
    st.warning(f"Link setting not used: {message}")

choices = [*PRESETS, CUSTOM]
st.segmented_control("Preset", choices, key="gf_preset", on_change=on_preset, required=True,
                     format_func=lambda s: PRESETS[s].title if s in PRESETS else "Custom")
if st.session_state["gf_preset"] in PRESETS:
    st.markdown(PRESETS[st.session_state["gf_preset"]].summary)

with st.expander("Network and training settings", expanded=st.session_state["gf_preset"] == CUSTOM):
    c = st.columns(5)
    c[0].selectbox("Family", FAMILIES, key=knob_key("family"), on_change=on_knob,
                   format_func={"cnn": "CNN (CIFAR-style ResNet)", "mlp": "MLP stack"}.get)
    c[1].number_input("Depth", min_value=1, max_value=299, step=1, key=knob_key("depth"), on_change=on_knob,
                      help="CNN: 6n+2 layers with basic blocks (20, 32, 44, 56, 110), 9n+2 with bottlenecks; "
                           "MLP: number of units")
    c[2].number_input("Width", min_value=1, max_value=1024, step=1, key=knob_key("width"), on_change=on_knob,
                      help="CNN: first-stage filters (paper: 16); MLP: hidden units")
    c[3].selectbox("Block", tuple(BLOCKS), key=knob_key("block"), on_change=on_knob)
    c[4].selectbox("Shortcut", SHORTCUTS, key=knob_key("shortcut"), on_change=on_knob,
                   format_func={"A": "A: identity, zero-pad", "B": "B: project on shape change",
                                "C": "C: project always"}.get)
    c = st.columns(5)
    c[0].toggle("Pre-activation", key=knob_key("preact"), on_change=on_knob,
                help="BN-ReLU-conv order of He et al. 2016")
    c[1].selectbox("Normalisation", NORMS, key=knob_key("norm"), on_change=on_knob)
    c[2].selectbox("Activation", ACTS, key=knob_key("act"), on_change=on_knob)
    c[3].selectbox("Data set", DATASETS, key=knob_key("dataset"), on_change=on_knob)
    c[4].selectbox("Optimiser", OPTIMIZERS, key=knob_key("optimizer"), on_change=on_knob)
    c = st.columns(6)
    c[0].number_input("Learning rate", min_value=0.0, max_value=1e4, format="%g", step=0.001,
                      key=knob_key("lr"), on_change=on_knob)
    c[1].number_input("Momentum", min_value=0.0, max_value=0.999, format="%g", step=0.05,
                      key=knob_key("momentum"), on_change=on_knob, help="SGD only (paper: 0.9)")
    c[2].number_input("Weight decay", min_value=0.0, max_value=1.0, format="%g", step=1e-4,
                      key=knob_key("wd"), on_change=on_knob, help="paper: 1e-4")
    c[3].selectbox("Schedule", SCHEDULES, key=knob_key("schedule"), on_change=on_knob,
                   help="step: lr/10 at 50% and 75% of the steps, as the paper's 32k/48k of 64k")
    c[4].number_input("Batch size", min_value=1, max_value=MAX_BATCH, step=1, key=knob_key("batch"),
                      on_change=on_knob)
    c[5].number_input("Steps", min_value=1, max_value=MAX_STEPS, step=50, key="gf_steps", on_change=on_knob)

setup, problem = current_setup()
if setup is None:
    st.error(f"These settings cannot train: {problem}")
    st.stop()
st.query_params.from_dict(setup_to_query(setup))


# -- the worker ------------------------------------------------------------------------------
def fresh_worker(s: Setup) -> TwinWorker:
    """Start a worker for `s`, ending the session's previous one."""
    old = st.session_state.get("gf_worker")
    if old is not None:
        old.stop()
    try:
        store, st.session_state["gf_store_error"] = RunStore(), ""
    except StoreError as err:  # the page still trains; it says why nothing is kept
        store, st.session_state["gf_store_error"] = None, f"Training here is not recorded in the run store: {err}"
    worker = TwinWorker(s.config, steps=s.steps, store=store)
    st.session_state["gf_worker"] = worker
    st.session_state["gf_on"] = list(range(len(s.config.model.block_names())))
    return worker


worker: TwinWorker | None = st.session_state.get("gf_worker")
snap = worker.snapshot(max_points=HEATMAP_POINTS) if worker is not None else None
stale = worker is None or (worker.config, worker.total_steps) != (setup.config, setup.steps)
if stale and (snap is None or snap.state not in LIVE_STATES):
    worker = fresh_worker(setup)
    stale = False
names = worker.config.model.block_names()
ended = not worker.alive  # failed, or stopped after nobody watched: its records stay on screen
if stale:
    st.info("Training goes on with the previous settings; press Reset to apply the new ones.")
elif ended:
    st.info("This run has ended; its records stay below. Press Reset to start a fresh one.")


def on_train() -> None:
    """Train button."""
    st.session_state["gf_worker"].train()
    st.session_state["gf_live"] = True


def on_pause() -> None:
    """Pause button."""
    st.session_state["gf_worker"].pause()


def on_step() -> None:
    """Step button: one step of both twins."""
    st.session_state["gf_worker"].step(1)
    st.session_state["gf_live"] = True


def on_reset() -> None:
    """Reset button: same settings (or the new ones), fresh weights, records cleared."""
    fresh_worker(setup)
    st.session_state["gf_live"] = False


def on_shortcuts() -> None:
    """The shortcut pills changed: switch exactly the blocks that changed."""
    w = st.session_state["gf_worker"]
    now = set(st.session_state["gf_on"])
    before = set(st.session_state.get("gf_on_sent", range(len(names))))
    for i in sorted(before - now):
        w.set_shortcut(i, False)
    for i in sorted(now - before):
        w.set_shortcut(i, True)
    st.session_state["gf_on_sent"] = sorted(now)


def all_shortcuts(on: bool) -> None:
    """All on / all off."""
    st.session_state["gf_worker"].set_shortcut(None, on)
    st.session_state["gf_on"] = list(range(len(names))) if on else []
    st.session_state["gf_on_sent"] = list(st.session_state["gf_on"])


if st.session_state.get("gf_on_worker") is not worker:  # a new worker starts with every shortcut on
    st.session_state["gf_on"] = list(range(len(names)))
    st.session_state["gf_on_sent"] = list(range(len(names)))
    st.session_state["gf_on_worker"] = worker

controls = st.columns([1, 1, 1, 1, 2, 4], vertical_alignment="center")
controls[0].button("Train", type="primary", on_click=on_train, width="stretch", disabled=stale or ended)
controls[1].button("Pause", on_click=on_pause, width="stretch")
controls[2].button("Step", on_click=on_step, width="stretch", disabled=stale or ended)
controls[3].button("Reset", on_click=on_reset, width="stretch")

with st.container(border=True):
    top = st.columns([8, 1, 1])
    top[0].pills("Residual twin's shortcuts (on = highlighted; click a block to cut or restore it, even while "
                 "training)", list(range(len(names))), selection_mode="multi", key="gf_on",
                 format_func=lambda i: names[i], on_change=on_shortcuts, wrap=True)
    top[1].button("All on", on_click=all_shortcuts, args=(True,), width="stretch")
    top[2].button("All off", on_click=all_shortcuts, args=(False,), width="stretch")

granularity = controls[5].segmented_control(
    "Granularity", ["blocks", "layers"], key="gf_granularity", default="blocks", required=True,
    label_visibility="collapsed", help="blocks: norm over each residual unit's parameters; "
                                      "layers: each conv/linear weight")


# -- live views ----------------------------------------------------------------------------------
def ratio(values: np.ndarray) -> float:
    """First/last block gradient-norm ratio at one step."""
    return float(values[0] / values[-1]) if values[-1] > 0 else float("nan")


def last_finite(rows: np.ndarray) -> int:
    """Index of the latest row with every value finite (a diverged run's last NaN rows are skipped)."""
    ok = np.flatnonzero(np.isfinite(rows).all(axis=1))
    return int(ok[-1]) if len(ok) else len(rows) - 1


def draw(snap: TwinSnapshot) -> None:
    """Every view, from one snapshot."""
    nets = snap.nets
    done = snap.step / max(snap.total_steps, 1)
    st.progress(min(done, 1.0), text=f"step {snap.step} of {snap.total_steps} · {snap.steps_per_sec:.0f} steps/s · "
                                     f"{snap.state}")
    if snap.state in ("diverged", "failed"):
        st.error(snap.message)
    elif snap.message and snap.state in ("idle", "stopped"):
        st.warning(snap.message)
    if snap.record_error or st.session_state.get("gf_store_error"):
        st.warning(snap.record_error or st.session_state["gf_store_error"])
    elif snap.run_ids:
        st.caption(f"Recorded in the run store as run {snap.run_ids['plain']} (plain) and run "
                   f"{snap.run_ids['residual']} (residual): the Runs page replays them and the analysis "
                   "pages can load them.")
    if not nets or nets["plain"].latest is None:
        st.info("Press Train (or Step) to start both nets; the views fill in as they learn.")
        # Empty axes where the heatmaps will be: the layout does not jump, and the browser has
        # loaded Plotly before the first numbers arrive.
        empty = {k: Grid(np.zeros(0), np.zeros((0, len(names))), names) for k in ("plain", "residual")}
        st.plotly_chart(twin_heatmaps(empty, title="Gradient norm of each block (input at the top)",
                                      quantity="‖∇W‖"), key="chart_grad", theme=None)
        return
    plain, res = nets["plain"], nets["residual"]
    # Sentences and profiles use each twin's latest finite step, so a diverged run still reads.
    now = {k: last_finite(n.grad_norm) for k, n in nets.items()}
    pr, rr = ratio(plain.grad_norm[now["plain"]]), ratio(res.grad_norm[now["residual"]])
    at_init = f"at step {int(plain.steps[0])}: " + "{:.1e}"
    m = st.columns(4)
    m[0].metric("Plain: first/last block gradient", f"{pr:.1e}", delta=at_init.format(ratio(plain.grad_norm[0])),
                delta_color="off", delta_arrow="off")
    m[1].metric("Plain: training error (last 20 steps)", f"{float(np.mean(plain.train_error[-20:])):.1%}")
    m[2].metric("Residual: first/last block gradient", f"{rr:.1e}", delta=at_init.format(ratio(res.grad_norm[0])),
                delta_color="off", delta_arrow="off")
    m[3].metric("Residual: training error (last 20 steps)", f"{float(np.mean(res.train_error[-20:])):.1%}")
    std_now = res.act_std[now["residual"]]
    growth = float(std_now[-1] / std_now[0]) if std_now[0] > 0 else None
    st.info("  \n".join(describe_twins(pr, rr, norm=worker.config.model.norm, residual_act_growth=growth)))

    by_layer = granularity == "layers"
    grads = {k: Grid(n.steps, n.layer_grad_norm if by_layer else n.grad_norm,
                     n.layer_names if by_layer else n.names) for k, n in nets.items()}
    unit = "layer's weight" if by_layer else "block"
    st.plotly_chart(twin_heatmaps(grads, title=f"Gradient norm of each {unit} (input at the top)",
                                  quantity="‖∇W‖", events=res.events), key="chart_grad", theme=None)
    inputs = {k: Grid(n.steps, n.input_grad_norm, n.names) for k, n in nets.items()}
    st.plotly_chart(twin_heatmaps(inputs, title="Backward signal ‖dL/dx‖ at each block's input (input at the top)",
                                  quantity="‖dL/dx‖", events=res.events), key="chart_input", theme=None)
    cols = st.columns(2)
    latest = {k: n.grad_norm[now[k]] for k, n in nets.items()}
    step_now = int(plain.steps[now["plain"]])
    cols[0].plotly_chart(block_profile(latest, plain.names, title=f"Gradient norm per block at step {step_now}",
                                       y_title="‖∇W‖"), key="chart_profile", theme=None)
    stds = {k: n.act_std[now[k]] for k, n in nets.items()}
    cols[1].plotly_chart(block_profile(stds, plain.names, title="Activation std per block", y_title="std"),
                         key="chart_act_std", theme=None)
    curves = {k: Curves(n.curve_steps, n.loss, n.train_error, n.test_steps, n.test_error) for k, n in nets.items()}
    st.plotly_chart(training_curves(curves, events=res.events), key="chart_curves", theme=None)


live = st.session_state.get("gf_live", False) or (snap is not None and snap.state in LIVE_STATES)


@st.fragment(run_every=REDRAW_SECONDS if live else None)
def live_views() -> None:
    """Redraw from a fresh snapshot; once training stops, rerun the page once to stop polling."""
    w: TwinWorker = st.session_state["gf_worker"]
    w.heartbeat()
    s = w.snapshot(max_points=HEATMAP_POINTS)
    draw(s)
    busy = w.alive and (s.state in LIVE_STATES or w.pending)
    if st.session_state.get("gf_live") and not busy:
        st.session_state["gf_live"] = False
        st.rerun(scope="app")


live_views()
