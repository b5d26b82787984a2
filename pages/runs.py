"""Runs: every recorded run drawn and replayed with no training; compare two; export or import them."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

import streamlit as st

from figure_export import figure_download, report_page, run_facts, static_images_unavailable, zip_files
from pages.charts import chart
from pages.common import require_router
from resnet.settings import read_only_reason
from resnet.store import RunInfo, RunStore, StoreError
from resnet.views import runs_view, stored_view
from viz.run_figures import STATS, block_profile, curves, heatmaps
from viz.runview import RunView

QUANTITIES = ("grad_norm", "input_grad_norm", "act_std")
REPLAY_FRAMES = 100  # a replay plays the run in this many frames
REPLAY_TICK_S = 0.3


@st.cache_data(max_entries=16, show_spinner=False)
def load_view(path: str, run_ids: tuple[int, ...], signature: tuple) -> RunView:
    """One run (with its twin when recorded as a pair) or two runs compared, as one RunView.

    `signature` (steps, status of each) changes whenever the runs do.
    """
    store = RunStore(path)
    if len(run_ids) == 1:
        return stored_view(store, run_ids[0])
    return runs_view(store, {label_of(store.run(i)): store.run(i) for i in run_ids})


def describe(info: RunInfo) -> str:
    """A one-line description of a run for menus."""
    started = datetime.datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")
    return f"#{info.id} {info.name} · {info.status} · {info.steps}/{info.total_steps} steps · {started}"


def label_of(info: RunInfo) -> str:
    """"#3 plain-56"."""
    return f"#{info.id} {info.name}"


def tables_zip(path: str, run_id: int, fmt: str) -> bytes:
    """The run's tables as CSV or Parquet files in one zip (runs on click, outside the script)."""
    return zip_files({f"run-{run_id}-{name}.{fmt}": frame.to_csv(index=False).encode() if fmt == "csv"
                      else frame.to_parquet(index=False) for name, frame in RunStore(path).tables(run_id).items()})


def run_file(path: str, run_id: int) -> bytes:
    """The run as a run file for `python -m resnet runs import` or this page's import."""
    with tempfile.TemporaryDirectory() as tmp:
        return RunStore(path).export_run(run_id, Path(tmp) / "run.gflrun").read_bytes()


def import_ui(store: RunStore) -> None:
    """Upload a run file and copy its runs into the store."""
    refused = read_only_reason("import runs")
    with st.expander("Import a run file"):
        if refused:
            st.info(refused[0].upper() + refused[1:] + ".")
        upload = st.file_uploader("Run file", type=["gflrun", "db"], key="runs_upload", disabled=bool(refused),
                                  help="from `python -m resnet runs export ID --out FILE` or this page's export")
        if upload is not None and st.button("Import", key="runs_import", disabled=bool(refused)):
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "upload.gflrun"
                target.write_bytes(upload.getvalue())
                try:
                    imported = store.import_run(target)
                except StoreError as err:
                    st.error(str(err))
                    return
            (st.success if imported.ids and not imported.refused else st.warning)(imported.summary(store.path))


def delete_run(path: str, run_id: int) -> None:
    """Delete button: remove the run, or keep the reason to show."""
    try:
        store = RunStore(path)
        store.delete(run_id)
        left = [r.id for r in store.runs(limit=1)]
    except StoreError as err:
        st.session_state["runs_notice"] = ("error", str(err))
        return
    # The menu moves to the newest run left: set, not cleared, so the browser shows it too.
    if left:
        st.session_state["runs_run"] = left[0]
    else:
        st.session_state.pop("runs_run", None)
    if not left or st.session_state.get("runs_other") == left[0]:  # it cannot compare a run with itself
        st.session_state.pop("runs_other", None)
    st.session_state["runs_notice"] = ("success", f"Deleted run #{run_id} and everything recorded for it.")


require_router()
st.title("Runs")
st.markdown("Every run in the store, recorded here or on another machine, drawn with no training. "
            "Record on a GPU box with `python -m resnet train ...`, copy the run file, replay it here.")

try:
    store = RunStore()
    runs = store.runs()
except StoreError as err:
    st.error(str(err))
    st.stop()
import_ui(store)
notice = st.session_state.pop("runs_notice", None)
if notice is not None:
    getattr(st, notice[0])(notice[1])
broken = store.broken()
if broken:  # listed apart, with their reason: the rest of the store still reads as it should
    refused = read_only_reason("delete runs")
    with st.expander(f"{len(broken)} run{'s' if len(broken) > 1 else ''} in this store cannot be read",
                     expanded=True, icon=":material/warning:"):
        for run_id, name, why in broken:
            c = st.columns([6, 1.4], vertical_alignment="center")
            c[0].warning(f"Run #{run_id} ({name}): {why}")
            c[1].button("Delete it", key=f"runs_delete_broken_{run_id}", on_click=delete_run,
                        args=(str(store.path), run_id), disabled=refused is not None, help=refused)
if not runs:
    st.info("No runs yet. Train some on the **Gradient flow** or **Degradation** page, or with "
            "`python -m resnet train` (`python -m resnet train --help`), then come back.")
    st.stop()

rows = []
for r in runs:
    s = store.summary(r.id)
    rows.append({"run": r.id, "name": r.name, "net": r.label, "status": r.status, "steps": r.steps,
                 "data set": r.config.dataset, "device": r.device,
                 "started": datetime.datetime.fromtimestamp(r.started), "training error": s.train_error,
                 "test error": s.test_error})
with st.expander(f"{len(runs)} run{'s' * (len(runs) != 1)} in `{store.path}`", expanded=False):
    st.dataframe(rows, hide_index=True,
                 column_config={"training error": st.column_config.NumberColumn(format="percent"),
                                "test error": st.column_config.NumberColumn(format="percent"),
                                "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})

by_id = {r.id: r for r in runs}
c1, c2, c3 = st.columns([2, 2, 2])
run_id = c1.selectbox("Run", list(by_id), format_func=lambda i: describe(by_id[i]), key="runs_run")
other = c2.selectbox("Compare with", [None] + [i for i in by_id if i != run_id],
                     format_func=lambda i: "nothing" if i is None else describe(by_id[i]), key="runs_other")
quantity = c3.selectbox("Heatmap of", QUANTITIES, format_func=lambda q: STATS[q][0], key="runs_quantity")

info = by_id[run_id]
st.caption(" · ".join(f"**{k}** {v}" for k, v in run_facts(info)[1:]))
if info.message:
    st.warning(info.message)
chosen = [run_id] + ([other] if other is not None else [])
step_key, play_key, end_key = (f"runs_{what}_{run_id}_{other}" for what in ("step", "play", "end"))
playing = bool(st.session_state.get(play_key))
live = info.status == "running"


@st.fragment(run_every=REPLAY_TICK_S if playing else (2.0 if live else None))
def replay() -> None:
    """The run's figures up to the slider's iteration; Play advances the slider; a live run is re-read."""
    now = [store.run(i) for i in chosen]
    if live and now[0].status != "running":
        st.rerun()  # it has just ended: redraw the page once, without the timer
    view = load_view(str(store.path), tuple(chosen), tuple((r.steps, r.status) for r in now))
    if not view.started and not any(len(n.curve_steps) for n in view.nets.values()):
        st.info("This run has no recorded steps.")
        return
    st.markdown(f"[Open in the Gradient flow view](/?run={run_id}) (the same figures, replayed with Play)")
    total = max(view.step, 1)
    # A slider left at the end follows the end while a live run grows.
    if step_key not in st.session_state or st.session_state[step_key] == st.session_state.get(end_key):
        st.session_state[step_key] = total
    st.session_state[end_key] = total
    if playing:
        nxt = min(total, int(st.session_state[step_key]) + max(1, total // REPLAY_FRAMES))
        st.session_state[step_key] = nxt
        if nxt >= total:
            st.session_state[play_key] = False
            st.rerun()
    if total >= 2:
        b, s = st.columns([1, 6], vertical_alignment="bottom")
        if b.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                    key=f"runs_play_button_{run_id}_{other}", width="stretch"):
            if not playing and st.session_state[step_key] >= total:
                st.session_state[step_key] = 1
            st.session_state[play_key] = not playing
            st.rerun()
        upto = s.slider("Iteration", 1, total, key=step_key, help="replay the run up to this iteration")
        view = view.upto(upto)
    moving = playing or live  # the figures change every tick
    chart(curves(view), key="runs_curves", moving=moving)
    chart(heatmaps(view, quantity), key="runs_heat", moving=moving)
    chart(block_profile(view, quantity), key="runs_profile", moving=moving)


replay()

st.subheader("Export")
path = str(store.path)
e1, e2, e3, e4 = st.columns(4)
e1.download_button("CSV tables (.zip)", lambda: tables_zip(path, run_id, "csv"), f"run-{run_id}-csv.zip",
                   "application/zip", on_click="ignore", width="stretch")
e2.download_button("Parquet tables (.zip)", lambda: tables_zip(path, run_id, "parquet"),
                   f"run-{run_id}-parquet.zip", "application/zip", on_click="ignore", width="stretch")
e3.download_button("HTML report", lambda: report_page(RunStore(path), run_id), f"run-{run_id}.html", "text/html",
                   on_click="ignore", width="stretch")
e4.download_button("Run file", lambda: run_file(path, run_id), f"run-{run_id}.gflrun",
                   "application/octet-stream", on_click="ignore", width="stretch",
                   help="opens in another store: `python -m resnet runs import FILE` or the import above")

st.caption("Figures for slides: the gradient heatmaps as they fill in, or every figure at 1600x900")
no_chromium = static_images_unavailable()
for column, (label, fmt, name, mime) in zip(st.columns(4), (
        ("Heatmap animation (.html)", "animation", "heatmap-animation.html", "text/html"),
        ("Heatmap GIF", "gif", "heatmap.gif", "image/gif"),
        ("PNG figures (.zip)", "png", "png.zip", "application/zip"),
        ("SVG figures (.zip)", "svg", "svg.zip", "application/zip")), strict=True):
    static = fmt != "animation"  # drawn by the server's Chromium
    unavailable = no_chromium if static else None
    about = ("drawn by the server's Chromium: a few seconds, a GIF about half a minute" if static
             else "plays in any browser, offline: plotly.js is in the file")
    column.download_button(label, lambda fmt=fmt: figure_download(RunStore(path), run_id, fmt), f"run-{run_id}-{name}",
                           mime, on_click="ignore", width="stretch", disabled=info.steps == 0 or bool(unavailable),
                           help=unavailable or about)

with st.popover(f"Delete run #{run_id}", icon=":material/delete:"):
    st.markdown(f"Remove **{describe(info)}** and everything recorded for it from `{store.path}`. "
                "This cannot be undone; export a run file first to keep a copy.")
    refused = read_only_reason("delete runs")
    if refused:
        st.info(refused[0].upper() + refused[1:] + ".")
    st.button("Delete for good", type="primary", on_click=delete_run, args=(path, run_id), key="runs_delete",
              disabled=bool(refused), help=refused)
