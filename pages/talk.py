"""Talk mode (/?talk=NAME&scene=N): one scene at a time, its main figure above the fold, keys for a clicker."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages.analysis_common import pair_caption
from pages.charts import chart as page_chart
from pages.common import require_router
from resnet.analysis.results import Analysis, Attributions, Landscapes, LesionResult, ShatteredResult
from resnet.jobs import JobError, TwinsJob, job_server
from resnet.store import RunStore, StoreError, default_store_path
from resnet.talk_analyses import recorded_analysis
from resnet.talk_record import recorded_pair, scene_config
from resnet.talk_sweeps import recorded_sweep
from resnet.talks import Scene, SweepSpec, Talk, TalkError, find_talk, talk_files
from resnet.views import stored_view, sweep_view
from viz.attributions import attribution_maps, attribution_text, block_share_bars, completeness_text
from viz.degradation import (
    degradation_text,
    error_curves_figure,
    error_vs_depth_figure,
    gradient_text,
    response_std_figure,
    responses_text,
)
from viz.landscape import landscape_contours, landscape_text
from viz.lesion import lesion_bars, lesion_curve, lesion_text
from viz.narrative import twin_metrics, twin_sentences
from viz.run_figures import heatmaps
from viz.runview import RunView
from viz.shattered import autocorrelation_curves, lag1_vs_depth, shattered_text
from viz.sweepview import SweepView
from viz.theme import projector

require_router()
HEATMAP_POINTS = 400  # columns per heatmap: smooth, and quick to send at each tick
FIGURE_HEIGHT = 470  # px: with the one-line bar above, inside 1024x768 and 1280x720 windows
REPLAY_TICK_S = 0.3
REPLAY_SECONDS = {"in 5 s": 5, "in 15 s": 15, "in 30 s": 30}  # how long Play takes over the whole run
DEFAULT_SPEED = "in 15 s"
LIVE_TICK_S = 0.5
LIVE_STATES = ("starting", "training", "queued")
PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarNav"],
header[data-testid="stHeader"], [data-testid="stToolbar"] {display: none !important;}
[data-testid="stMainBlockContainer"] {padding: 0.6rem 1.2rem 1rem 1.2rem; max-width: 100%;}
.st-key-talk_keys {display: none !important;}
.talk-bar {font-size: 22px; line-height: 1.2; margin: 0;}
.talk-caption p {font-size: 22px; line-height: 1.35;}
</style>"""
BLANK_CSS = """<style>[data-testid="stApp"] {background: #000 !important;}
[data-testid="stMainBlockContainer"] * {visibility: hidden;}</style>"""


@st.cache_data(max_entries=16, show_spinner=False)
def load_view(path: str, run_id: int, signature: tuple) -> RunView:
    """A stored run (with its twin) as a RunView; `signature` (key, steps, status) changes whenever the run does."""
    return stored_view(RunStore(path), run_id, max_points=HEATMAP_POINTS)


@st.cache_data(max_entries=8, show_spinner=False)
def load_sweep(path: str, tag: str, signature: tuple) -> SweepView:
    """A stored sweep as a SweepView; `signature` (ids, steps, statuses) changes whenever its runs do."""
    return sweep_view(RunStore(path), tag)


def talk_index() -> None:
    """Every talk, each a link that opens it."""
    files = talk_files()
    st.markdown("Talks: " + (", ".join(f"[{name}](?talk={name})" for name in files) or "none found"))


def go_to(number: int, count: int) -> None:
    """Show scene `number` (1-based, clamped), ending a previous scene's live job."""
    number = min(max(number, 1), count)
    if number != st.session_state.get("talk_scene"):
        job = st.session_state.pop("talk_job", None)
        if job is not None:
            job.stop()
    st.session_state["talk_scene"] = number
    st.query_params["scene"] = str(number)


def key_buttons(number: int, count: int) -> None:
    """Previous/next (arrows and PageUp/PageDown, what clickers send) and "b" to blank the screen.

    Streamlit's button shortcuts leave keys alone while a widget has the focus, so they never fight a slider.
    """
    with st.container(key="talk_keys"):
        st.button("Previous page", shortcut="PageUp", on_click=go_to, args=(number - 1, count), key="talk_pgup")
        st.button("Next page", shortcut="PageDown", on_click=go_to, args=(number + 1, count), key="talk_pgdn")
        st.button("Blank", shortcut="B", on_click=lambda: st.session_state.update(
            talk_blank=not st.session_state.get("talk_blank", False)), key="talk_blank_key")


def scene_view(scene: Scene, path: str) -> tuple[RunView | None, str]:
    """The stored RunView a scene replays, or None and why there is none."""
    store = RunStore(path)
    try:
        if scene.run is not None:
            info = store.run_by_key(scene.run)
        elif scene.pair is not None:
            info = store.pair(scene.pair)[1]
        elif scene.preset is not None:
            found = recorded_pair(store, scene)
            if found is None:
                return None, (f"No recorded run of preset '{scene.preset}' ({scene.total_steps} steps"
                              + (", with this scene's actions" if scene.actions else "") + ") in the run store.")
            info = found[1]
        else:
            return None, ""
    except StoreError as err:
        return None, f"This scene's {scene.source} is missing: {err}"
    return load_view(path, info.id, (info.key, info.steps, info.status)), ""


def draw_scene(view: RunView, key: str, *, moving: bool = False) -> None:
    """The main figure (projector-sized), then the computed sentences; `moving`: redrawn every tick."""
    chart(heatmaps(view, height=FIGURE_HEIGHT, title=""), key, moving=moving)


def chart(fig: go.Figure, key: str, *, height: int = FIGURE_HEIGHT, where: Any = None, moving: bool = False) -> None:
    """A figure in the projector theme at `height`, with no mode bar to cover it; drawn in place even when still,
    so a talk's first figure waits for the smaller plotly.js bundle (pages.charts)."""
    page_chart(projector(fig.update_layout(height=height)), key=key, moving=moving, where=where,
               config={"displayModeBar": False}, in_place=True)


def record_hint(talk: Talk) -> str:
    """How to record this talk's scenes, in one sentence."""
    return (f"Record the talk ahead with `python -m resnet talk record {talk.name} --out talk.db`, then "
            "`python -m resnet runs import talk.db` (or the Runs page).")


def sweep_scene(talk: Talk, scene: Scene, path: str) -> list[str]:
    """The scene's figure of its recorded sweep (error curves, error vs depth or Fig. 7's responses); its computed
    sentences, or [] with a warning."""
    try:
        store = RunStore(path)
        tag = recorded_sweep(store, scene.sweep)
        runs = store.runs(sweep=tag) if tag is not None else []
    except StoreError as err:
        st.warning(f"This scene's sweep cannot be read: {err}")
        return []
    if tag is None:
        grid = isinstance(scene.sweep, SweepSpec)
        what = f"of {scene.sweep.describe()} (every run finished)" if grid else f"'{scene.sweep}'"
        st.warning(f"No recorded sweep {what} in the run store ({path}). " + (record_hint(talk) if grid else ""))
        st.page_link("pages/degradation.py", label="Train a sweep on the Degradation page")
        return []
    view = load_sweep(path, tag, tuple((r.id, r.steps, r.status) for r in runs))
    figure = scene.figure
    if figure == "responses" and not view.responses:
        st.warning(f"Sweep '{tag}' holds no layer responses (Fig. 7): its error curves instead.")
        figure = "curves"
    if figure == "responses":
        fig, lines = response_std_figure(view.responses), responses_text(view.responses)
    elif figure == "depth":
        fig, lines = error_vs_depth_figure(view.results), degradation_text(view.results)
    else:
        fig = error_curves_figure(view.curves)
        lines = degradation_text(view.results) + ([gradient_text(*view.gradient)] if view.gradient else [])
    chart(fig, "talk_main")
    st.caption(f"sweep '{tag}' · recorded, no training")
    return lines


def analysis_scene(talk: Talk, scene: Scene, path: str) -> list[str]:
    """The scene's recorded analysis result, drawn as its analysis page draws it; its computed sentences."""
    spec = scene.analysis
    try:
        found = recorded_analysis(RunStore(path), spec)
    except StoreError as err:
        st.warning(f"This scene's {spec.kind} result cannot be shown: {err}")
        return []
    if found is None:
        st.warning(f"No recorded {spec.describe()} in the run store ({path}). {record_hint(talk)}")
        st.page_link(f"pages/{spec.kind}.py", label=f"Run it on the {spec.kind} page")
        return []
    return DRAW[spec.kind](found)


def draw_lesion(found: Analysis[LesionResult]) -> list[str]:
    """A lesion study as the Lesion study page draws it: single deletions, then k random ones; its sentences."""
    r = found.result
    left, right = st.columns([3, 2])
    chart(lesion_bars(r.block_names, r.single, r.intact, r.chance, r.shape_changing), "talk_main", where=left)
    chart(lesion_curve(r.k, r.random, r.chance), "talk_side", where=right)
    st.caption(pair_caption(found.pair) + f" {r.random['plain'].shape[1]} draws per k · recorded, no computing")
    return lesion_text(r.block_names, r.single, r.intact, r.k, r.random, r.chance)


def draw_landscape(found: Analysis[Landscapes]) -> list[str]:
    """A loss landscape's 2-D slices as the Loss landscape page draws them, and its sentences."""
    grid, pair = found.result.grid, found.pair
    chart(landscape_contours(grid.alphas, grid.betas, grid.loss), "talk_main")  # the 1-D slice stays on its page
    n = len(grid.alphas)
    st.caption(pair_caption(pair) + f" Loss on {grid.samples} training samples; {n}x{n} grid over "
               f"±{grid.alphas[-1]:g} · recorded, no computing")
    return landscape_text(grid.loss, num_classes=pair.num_classes, depth=pair.depth, test_error=pair.test_errors)


def draw_attributions(found: Analysis[Attributions]) -> list[str]:
    """Attributions as the Attributions page draws them: each block's share, the pixel maps beside; its sentences."""
    blocks, maps = found.result.blocks, found.result.inputs
    left, right = st.columns([3, 2]) if maps is not None else (st, None)
    chart(block_share_bars(blocks.block_names, blocks.share), "talk_main", where=left)
    if maps is not None:
        chart(attribution_maps(maps.images, maps.integrated_gradients, maps.saliency, maps.labels, maps.predicted,
                               maps.indices), "talk_side", where=right)
    st.caption(pair_caption(found.pair) + f" Bars: first {blocks.samples} test samples, {blocks.n_steps} "
               "integration steps · recorded, no computing")
    lines = attribution_text(blocks.share, blocks.block_names, blocks.n_steps)
    return lines + ([completeness_text(maps.output_change, maps.delta)] if maps is not None else [])


def draw_shattered(r: ShatteredResult) -> list[str]:
    """Shattered gradients as the Shattered page draws them: lag-1 autocorrelation against depth, then against lag
    at the deepest depth (the gradient traces stay on its page); its sentences."""
    lag1 = {key: r.lag1(*key) for key in r.acf}
    left, right = st.columns(2)
    chart(lag1_vs_depth(r.depths, lag1), "talk_main", where=left)
    lags = np.arange(r.acf[("init", "plain")].shape[2])
    chart(autocorrelation_curves(lags, {k: v[-1].mean(axis=0) for k, v in r.acf.items()}, depth=r.depths[-1]),
          "talk_side", where=right)
    st.caption(f"Width {r.width}, normalisation {r.norm}, {len(r.t)} points, {r.acf[('init', 'plain')].shape[1]} "
               f"draws at initialisation, {r.steps} training steps · recorded, no computing")
    return shattered_text(r.depths, lag1, norm=r.norm, train_error=r.train_error, diverged=r.diverged)


DRAW = {"lesion": draw_lesion, "landscape": draw_landscape, "attributions": draw_attributions,
        "shattered": draw_shattered}  # a recorded kind -> how its scene draws it


def sentences(view: RunView) -> None:
    """The lab's computed sentences and numbers beside the figure (never canned claims)."""
    lines = twin_sentences(view, norm=view.config.get("model", {}).get("norm", "batch"))
    metrics = twin_metrics(view)
    if metrics:
        st.markdown(" · ".join(f"**{label}** {value}" for label, value, _ in metrics))
    if lines:
        st.info("  \n".join(lines))


def replay(view: RunView, number: int) -> RunView:
    """Show a stored run whole at once; Play (or "p") replays it from step 1 at the speed the presenter picks.

    The scene opens on the finished record, so its figure is drawn in one go: a replay timer running
    from the first frame would redraw the whole figure every tick while the browser is still loading it.
    """
    end = max(view.step, 1)
    if st.session_state.get("talk_cursor_scene") != number:
        st.session_state.update(talk_cursor_scene=number, talk_cursor=end)
    ticking = st.session_state["talk_cursor"] < end

    @st.fragment(run_every=REPLAY_TICK_S if ticking else None)
    def frames() -> None:
        cursor = st.session_state["talk_cursor"]
        if (cursor < end) != ticking:  # Play reran the fragment alone, or the replay reached the end
            st.rerun(scope="app")
        draw_scene(view if cursor >= end else view.upto(cursor), "talk_main", moving=ticking)
        row = st.columns([5, 1.4, 2.6], vertical_alignment="center")
        row[0].caption(f"replay · step {cursor} of {view.step} · recorded, no training")
        row[1].button("Play", icon=":material/replay:", shortcut="P", key="talk_play", width="stretch",
                      help="replay the run from step 1 (p)", on_click=st.session_state.update,
                      kwargs={"talk_cursor": 1})
        row[2].segmented_control("Replay speed", list(REPLAY_SECONDS), key="talk_speed", default=DEFAULT_SPEED,
                                 required=True, label_visibility="collapsed")
        if cursor < end:
            seconds = REPLAY_SECONDS[st.session_state["talk_speed"]]
            st.session_state["talk_cursor"] = min(end, cursor + max(1, round(end * REPLAY_TICK_S / seconds)))

    frames()
    return view.upto(st.session_state["talk_cursor"])


def live(scene: Scene, number: int) -> RunView | None:
    """Train the preset's twins live, the scene's actions carried out at their steps."""
    job: TwinsJob | None = st.session_state.get("talk_job")
    if job is None or st.session_state.get("talk_job_scene") != number:
        try:
            job = job_server().twins(scene_config(scene, device=st.session_state.get("device", "auto")),
                                     scene.total_steps, store=str(default_store_path()))
        except JobError as err:
            st.error(f"Training cannot start: {err}")
            return None
        # The worker carries the scene's actions out at their steps exactly, however often the page looks.
        for action in scene.actions:
            job.schedule(action.at, [(block, action.on) for block in (action.blocks or (None,))])
        job.train()
        st.session_state.update(talk_job=job, talk_job_scene=number)

    @st.fragment(run_every=LIVE_TICK_S if job.alive and job.state in LIVE_STATES + ("idle",) else None)
    def frames() -> None:
        job.heartbeat()
        view = job.view(max_points=HEATMAP_POINTS)
        draw_scene(view, "talk_main", moving=view.state in LIVE_STATES)
        st.caption(f"live · step {view.step} of {view.total_steps} · {view.state}")

    frames()
    shortcut_range(job)
    return job.view(max_points=HEATMAP_POINTS)


def shortcut_range(job: TwinsJob) -> None:
    """Cut or restore a range of the residual twin's shortcuts: one slider, two buttons, not a wall of pills."""
    names = job.config.model.block_names()
    with st.expander("Shortcuts"):
        first, last = st.select_slider("Blocks", options=list(range(len(names))), value=(0, len(names) - 1),
                                       format_func=lambda i: names[i], key="talk_range")
        c = st.columns(2)
        if c[0].button("Cut these shortcuts", key="talk_cut"):
            job.switch([(i, False) for i in range(first, last + 1)])
        if c[1].button("Restore these shortcuts", key="talk_restore"):
            job.switch([(i, True) for i in range(first, last + 1)])


def show_scene(talk: Talk, number: int) -> None:
    """Draw scene `number` of `talk`: a failing scene says why, and the talk goes on."""
    scene = talk.scenes[number - 1]
    path = str(default_store_path())
    lines: list[str] = []
    view, missing = scene_view(scene, path)
    shown: RunView | None = None
    if scene.sweep is not None:
        lines = sweep_scene(talk, scene, path)
    elif scene.analysis is not None:
        lines = analysis_scene(talk, scene, path)
    elif view is not None:
        shown = replay(view, number)
    elif scene.preset is not None and st.session_state.get("talk_live") == number:
        shown = live(scene, number)
    elif scene.preset is not None:
        st.warning(missing)
        st.button(f"Train preset '{scene.preset}' live", type="primary", icon=":material/play_arrow:",
                  on_click=lambda: st.session_state.update(talk_live=number), key="talk_train")
    elif missing:
        st.warning(missing)
    st.markdown(f"<div class='talk-caption'>\n\n{scene.caption}\n\n</div>", unsafe_allow_html=True)
    if shown is not None and shown.started:
        sentences(shown)
    if lines:
        st.info("  \n".join(lines))
    if scene.notes:
        with st.expander("Speaker notes"):
            st.markdown(scene.notes)


st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
try:
    current = find_talk(st.query_params.get("talk", ""))
except TalkError as err:
    st.warning(f"Cannot open this talk: {err}")
    talk_index()
    st.stop()

count = len(current.scenes)
if st.session_state.get("talk_name") != current.name:
    st.session_state.update(talk_name=current.name, talk_scene=None)
    text = st.query_params.get("scene", "1")
    if not (text.isdigit() and 1 <= int(text) <= count):
        st.warning(f"Talk '{current.name}' has no scene {text!r}; it has scenes 1 to {count}.")
        talk_index()
        text = "1"
    go_to(int(text), count)
number = st.session_state["talk_scene"]
key_buttons(number, count)
if st.session_state.get("talk_blank"):
    st.markdown(BLANK_CSS, unsafe_allow_html=True)
    st.stop()

bar = st.columns([1.3, 6, 1.2, 1.2], vertical_alignment="center")
bar[0].markdown(f"<p class='talk-bar'><b>{number} / {count}</b></p>", unsafe_allow_html=True)
bar[1].markdown(f"<p class='talk-bar'><b>{current.scenes[number - 1].title}</b></p>", unsafe_allow_html=True)
bar[2].button("Back", shortcut="Left", on_click=go_to, args=(number - 1, count), key="talk_prev",
              disabled=number <= 1, help="previous scene (← or PageUp)", width="stretch")
bar[3].button("Next", shortcut="Right", on_click=go_to, args=(number + 1, count), key="talk_next",
              disabled=number >= count, help="next scene (→ or PageDown); b blanks the screen", width="stretch")
show_scene(current, number)
