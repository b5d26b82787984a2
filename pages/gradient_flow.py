"""Gradient flow: a plain net and its residual twin train live side by side, or a stored run replays."""

from __future__ import annotations

import streamlit as st

from pages.charts import chart
from pages.common import require_router
from resnet.data import DATASETS
from resnet.jobs import JobError, TwinsJob, job_server
from resnet.layers import ACTS, NORMS
from resnet.nets import BLOCKS, MAX_CNN_DEPTH, MAX_CNN_WIDTH, MAX_MLP_DEPTH, MAX_MLP_WIDTH
from resnet.presets import PRESETS
from resnet.query import CUSTOM, KNOBS, Setup, setup_from_query, setup_to_query
from resnet.shortcuts import SHORTCUTS
from resnet.store import RunStore, StoreError, default_store_path
from resnet.trainer import FAMILIES, MAX_BATCH, MAX_STEPS, OPTIMIZERS, SCHEDULES, ModelSpec, TrainConfig
from resnet.views import stored_view
from viz.narrative import twin_metrics, twin_sentences
from viz.run_figures import block_profile, curves, heatmaps
from viz.runview import RunView

require_router()
LIVE_STATES = ("starting", "training", "queued")
HEATMAP_POINTS = 300  # columns per heatmap: smooth on screen, and light enough to send every redraw
REDRAW_SECONDS = 1.0  # the page, the server and the browser share two cores with training: redraw once a second
FIRST_ROWS_SECONDS = 0.25  # how often the page looks for a pair's first rows after Train
REPLAY_TICK_S = 0.3
REPLAY_SPEEDS = {"slow": 100, "normal": 40, "fast": 15}  # a replay plays the run in this many ticks


def draw(view: RunView, *, granularity: str = "blocks", moving: bool = False) -> None:
    """Every view of a run, from one RunView: the same figures live and replayed; `moving`: redrawn every tick."""
    if not view.started:
        # Empty axes where the heatmaps will be, drawn as the moving chart that then fills in: the layout
        # does not jump, and the browser has loaded plotly.js before the first numbers arrive.
        st.info("Press Train (or Step) to start both nets; the views fill in as they learn.")
        chart(heatmaps(view, "grad_norm"), key="chart_grad", moving=True)
        return
    metrics = twin_metrics(view)
    cols = st.columns(max(1, len(metrics)))
    for col, (label, value, note) in zip(cols, metrics, strict=False):
        col.metric(label, value, delta=note, delta_color="off", delta_arrow="off")
    sentences = twin_sentences(view, norm=view.config.get("model", {}).get("norm", "batch"))
    if sentences:
        st.info("  \n".join(sentences))
    stat = "layer_grad_norm" if granularity == "layers" else "grad_norm"
    chart(heatmaps(view, stat), key="chart_grad", moving=moving)
    chart(heatmaps(view, "input_grad_norm"), key="chart_input", moving=moving)
    cols = st.columns(2)
    chart(block_profile(view, "grad_norm"), key="chart_profile", moving=moving, where=cols[0])
    chart(block_profile(view, "act_std"), key="chart_act_std", moving=moving, where=cols[1])
    chart(curves(view), key="chart_curves", moving=moving)


def status_line(view: RunView) -> None:
    """Progress, rate and state; a failure or the line's place as a message."""
    done = view.step / max(view.total_steps, 1)
    st.progress(min(done, 1.0), text=f"step {view.step} of {view.total_steps} · {view.steps_per_sec:.0f} steps/s · "
                                     f"{view.state}")
    if view.state in ("diverged", "failed"):
        st.error(view.message)
    elif view.state == "queued" or (view.message and view.state in ("idle", "stopped")):
        st.warning(view.message)


# -- replay of a stored run (?run=ID) -------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def load_view(path: str, run_id: int, signature: tuple) -> RunView:
    """A stored run (with its twin) as a RunView; `signature` changes whenever the run does."""
    return stored_view(RunStore(path), run_id, max_points=HEATMAP_POINTS)


def toggle_play(end: int) -> None:
    """Play/Pause of a replay; Play at the end starts again from the first step."""
    st.session_state["gf_playing"] = not st.session_state["gf_playing"]
    if st.session_state["gf_playing"] and st.session_state["gf_cursor"] >= end:
        st.session_state["gf_cursor"] = 1


def replay(run_text: str) -> None:
    """Replay a stored run or pair: Play/Pause, a step slider, a speed; no job is started."""
    path = str(default_store_path())
    try:
        run_id = int(run_text)
        store = RunStore(path)
        info = store.run(run_id)
        view = load_view(path, run_id, (info.steps, info.status))
    except (ValueError, StoreError) as err:
        st.error(f"Cannot replay run {run_text!r}: {err}")
        st.page_link("pages/gradient_flow.py", label="Train live instead", icon=":material/play_arrow:")
        st.stop()
    names = " and ".join(f"run {n.run_id} ({n.label})" for n in view.nets.values())
    st.caption(f"Replaying {names} from the run store: no training, the same figures as live. "
               "The Runs page lists every recorded run.")
    end = max(view.step, 1)
    if st.session_state.get("gf_replay") != run_id:  # a new run: the cursor starts where the link says
        st.session_state["gf_replay"] = run_id
        step_text = st.query_params.get("step", str(end))
        st.session_state["gf_cursor"] = min(max(int(step_text), 1), end) if step_text.isdigit() else end
        st.session_state["gf_playing"] = False

    ticking = st.session_state["gf_playing"]

    @st.fragment(run_every=REPLAY_TICK_S if ticking else None)
    def frames() -> None:
        playing = st.session_state["gf_playing"]
        if playing != ticking:  # Play/Pause reran the fragment alone: start or stop its timer
            st.rerun(scope="app")
        if playing:  # advanced before the slider is drawn, so the slider shows the new step
            stride = max(1, end // REPLAY_SPEEDS[st.session_state.get("gf_speed", "normal")])
            st.session_state["gf_cursor"] = min(end, st.session_state["gf_cursor"] + stride)
        controls = st.columns([1, 1, 6], vertical_alignment="bottom")
        controls[0].button("Pause" if playing else "Play", type="primary", width="stretch", key="gf_play",
                           icon=":material/pause:" if playing else ":material/play_arrow:", on_click=toggle_play,
                           args=(end,))
        controls[1].selectbox("Speed", list(REPLAY_SPEEDS), index=1, key="gf_speed")
        controls[2].slider("Step", 1, end, key="gf_cursor", disabled=end <= 1)
        cursor = st.session_state["gf_cursor"]
        st.query_params["step"] = str(cursor)
        st.progress(cursor / end, text=f"step {cursor} of {view.step} · replay · {view.state}")
        draw(view.upto(cursor), granularity=st.session_state.get("gf_granularity", "blocks"), moving=playing)
        if playing and cursor >= end:
            st.session_state["gf_playing"] = False
            st.rerun(scope="app")

    frames()


st.title("Gradient flow: plain vs residual")
st.caption("The same network twice, from the same initial weights and batches: once as a plain stack, once with "
           "identity shortcuts. Only the shortcut differs, so every difference on screen is its doing.")
if "run" in st.query_params:
    replay(st.query_params["run"])
    st.stop()


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

for message in st.session_state.pop("gf_warnings", []):
    st.warning(f"Link setting not used: {message}")

choices = [*PRESETS, CUSTOM]
st.segmented_control("Preset", choices, key="gf_preset", on_change=on_preset, required=True,
                     format_func=lambda s: PRESETS[s].title if s in PRESETS else "Custom")
if st.session_state["gf_preset"] in PRESETS:
    st.markdown(PRESETS[st.session_state["gf_preset"]].summary)

with st.expander("Network and training settings", expanded=st.session_state["gf_preset"] == CUSTOM):
    arch = st.session_state[knob_key("arch")]  # set by a link from the Your model page; no widget of its own
    if arch:
        side = ModelSpec(arch=arch, input_size=st.session_state[knob_key("input_size")]).data_shape()["image_size"]
        st.caption(f"Model: {arch} from the zoo (Your model page), at {side}×{side}, from its initial weights; the "
                   "plain twin is the same model with every shortcut off. Family, depth, width, block, shortcut, "
                   "pre-activation, normalisation and activation do not apply; choose a preset to return to the "
                   "lab's nets.")
    c = st.columns(5)
    c[0].selectbox("Family", FAMILIES, key=knob_key("family"), on_change=on_knob,
                   format_func={"cnn": "CNN (CIFAR-style ResNet)", "mlp": "MLP stack"}.get)
    c[1].number_input("Depth", min_value=1, max_value=max(MAX_MLP_DEPTH, *MAX_CNN_DEPTH.values()), step=1,
                      key=knob_key("depth"), on_change=on_knob,
                      help="CNN: 6n+2 layers with basic blocks (20, 32, 44, 56, 110), 9n+2 with bottlenecks; "
                           "MLP: number of units")
    c[2].number_input("Width", min_value=1, max_value=max(MAX_MLP_WIDTH, MAX_CNN_WIDTH), step=1,
                      key=knob_key("width"), on_change=on_knob,
                      help=f"CNN: first-stage filters (paper: 16, at most {MAX_CNN_WIDTH}); MLP: hidden units "
                           f"(at most {MAX_MLP_WIDTH})")
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


# -- the job ----------------------------------------------------------------------------------
# The pills never have their value set by the page: All on/off and Reset draw a fresh pills widget
# (a new key) from the job's switches instead. A value set on a live widget races the browser: a
# click that leaves before the new value has arrived sends the old selection back, and it would
# undo the switch. A click on the pills applies only the pills it changed.
def pills_key() -> str:
    """The key of the pills widget drawn this run."""
    return f"gf_on_{st.session_state.get('gf_on_version', 0)}"


def redraw_pills() -> None:
    """Draw the pills afresh from the job's switches on the next run."""
    st.session_state["gf_on_version"] = st.session_state.get("gf_on_version", 0) + 1


def fresh_job(s: Setup) -> TwinsJob | None:
    """Start live twins for `s` in a worker process, ending the session's previous ones."""
    old = st.session_state.get("gf_job")
    if old is not None:
        old.stop()
    store = default_store_path()
    try:
        RunStore(store)
        st.session_state["gf_store_error"] = ""
    except StoreError as err:  # the page still trains; it says why nothing is kept
        store, st.session_state["gf_store_error"] = None, f"Training here is not recorded in the run store: {err}"
    try:
        job = job_server().twins(s.config, s.steps, store=store)
    except JobError as err:
        st.session_state["gf_job"] = None
        st.error(f"Training cannot start: {err}")
        st.stop()
    st.session_state["gf_job"] = job
    redraw_pills()
    return job


job: TwinsJob | None = st.session_state.get("gf_job")
stale = job is None or (job.config, job.total_steps) != (setup.config, setup.steps)
if stale and (job is None or job.state not in LIVE_STATES):
    job = fresh_job(setup)
    stale = False
names = job.config.model.block_names()
ended = not job.alive  # failed, or stopped after nobody watched: its records stay on screen
if stale:
    st.info("Training goes on with the previous settings; press Reset to apply the new ones.")
elif ended:
    st.info("This run has ended; its records stay below. Press Reset to start a fresh one.")


def command(action: str, *args) -> None:
    """A button's command to the session's job; a full line is one message."""
    try:
        getattr(st.session_state["gf_job"], action)(*args)
        st.session_state["gf_live"] = action in ("train", "step")
    except JobError as err:
        st.session_state["gf_job_error"] = str(err)


def on_reset() -> None:
    """Reset button: same settings (or the new ones), fresh weights, records cleared."""
    fresh_job(setup)
    st.session_state["gf_live"] = False


def on_pills(key: str, shown: list[int]) -> None:
    """A click on the pills: switch the shortcuts whose pill changed since the widget's last value."""
    job: TwinsJob = st.session_state["gf_job"]
    last_key, last = st.session_state.get("gf_on_last", (None, ()))
    now = st.session_state[key] or []
    st.session_state["gf_on_last"] = (key, tuple(now))
    job.switch_changed(last if last_key == key else shown, now)


def all_shortcuts(on: bool) -> None:
    """All on / all off."""
    st.session_state["gf_job"].apply_shortcuts(range(len(names)) if on else [])
    redraw_pills()


controls = st.columns([1, 1, 1, 1, 2, 4], vertical_alignment="center")
controls[0].button("Train", type="primary", on_click=command, args=("train",), width="stretch",
                   disabled=stale or ended)
controls[1].button("Pause", on_click=command, args=("pause",), width="stretch")
controls[2].button("Step", on_click=command, args=("step", 1), width="stretch", disabled=stale or ended)
controls[3].button("Reset", on_click=on_reset, width="stretch")
if st.session_state.get("gf_job_error"):
    st.warning(st.session_state.pop("gf_job_error"))

with st.container(border=True):
    top = st.columns([8, 1, 1])
    shown = sorted(job.switched_on)
    top[0].pills("Residual twin's shortcuts (on = highlighted; click a block to cut or restore it, even while "
                 "training)", list(range(len(names))), selection_mode="multi", key=pills_key(), default=shown,
                 format_func=lambda i: names[i], wrap=True, on_change=on_pills, args=(pills_key(), shown))
    top[1].button("All on", on_click=all_shortcuts, args=(True,), width="stretch")
    top[2].button("All off", on_click=all_shortcuts, args=(False,), width="stretch")

controls[5].segmented_control(
    "Granularity", ["blocks", "layers"], key="gf_granularity", default="blocks", required=True,
    label_visibility="collapsed", help="blocks: norm over each residual unit's parameters; "
                                      "layers: each conv/linear weight")

live = st.session_state.get("gf_live", False) or job.state in LIVE_STATES
# Until the first rows arrive the page looks often, so the first heatmap follows them within a
# fraction of a second; then it reruns once and redraws at the steady rate (a session in line waits
# at the steady rate: a room of them must not poll the server four times a second).
waiting_for_rows = live and job.state != "queued" and job.steps_done == 0


@st.fragment(run_every=(FIRST_ROWS_SECONDS if waiting_for_rows else REDRAW_SECONDS) if live else None)
def live_views() -> None:
    """Redraw from a fresh view; once training stops, rerun the page once to stop polling."""
    j: TwinsJob = st.session_state["gf_job"]
    j.heartbeat()
    view = j.view(max_points=HEATMAP_POINTS)
    status_line(view)
    if j.record_error or st.session_state.get("gf_store_error"):
        st.warning(j.record_error or st.session_state["gf_store_error"])
    elif j.run_ids:
        st.caption(f"Recorded in the run store as run {j.run_ids['plain']} (plain) and run "
                   f"{j.run_ids['residual']} (residual): the Runs page and `/?run={j.run_ids['residual']}` "
                   "replay them, and the analysis pages can load them.")
    busy = j.alive and (view.state in LIVE_STATES or j.pending)
    draw(view, granularity=st.session_state.get("gf_granularity", "blocks"), moving=busy)
    if st.session_state.get("gf_live") and not busy:
        st.session_state["gf_live"] = False
        st.rerun(scope="app")
    if waiting_for_rows and view.started:
        st.rerun(scope="app")  # the first rows are drawn: back to the steady redraw rate


live_views()
