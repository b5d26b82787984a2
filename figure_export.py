"""`python -m resnet runs export ID --format png|svg|gif|animation|report`: a run's figures for slides.

A front end like app.py and pages/, so resnet/ stays free of Plotly: it draws the stored run's RunView with
viz/'s one set of figure functions. Static images go through Plotly's write_image with kaleido 1.x
and the system's Chromium; kaleido is never let to download a browser.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

from resnet.cli import FIGURE_FORMATS
from resnet.store import RunStore, StoreError
from resnet.views import stored_view
from viz.report import report_html
from viz.run_figures import heatmaps, run_figures
from viz.theme import projector

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
SLIDE_SIZE = (1600, 900)  # px: a 16:9 slide; scale 1
GIF_WIDTH = 960  # px
GIF_FRAMES = 60  # at most: the heatmaps filling in
GIF_FRAME_MS = 120


def chromium() -> str:
    """The system Chromium kaleido must use ($BROWSER_PATH, $GFL_CHROMIUM, then Debian's), or a StoreError."""
    for candidate in (os.environ.get("BROWSER_PATH"), os.environ.get("GFL_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if candidate and (Path(candidate).is_file() or shutil.which(candidate)):
            return candidate
    raise StoreError("no Chromium found for static images (apt-get install chromium, or set BROWSER_PATH); "
                     "kaleido is not allowed to download one")


def _use_system_chromium() -> None:
    """Point kaleido's browser lookup (choreographer reads $BROWSER_PATH) at the system Chromium."""
    os.environ["BROWSER_PATH"] = chromium()


def _view(store: RunStore, run_id: int):
    view = stored_view(store, run_id)
    if not view.started:
        raise StoreError(f"run {run_id} has no recorded steps yet: nothing to draw")
    return view


def export_figures(store: RunStore, run_id: int, out: str | os.PathLike, fmt: str) -> list[Path]:
    """Write run `run_id`'s figures into folder `out` in format `fmt` (one of FIGURE_FORMATS); the paths."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FIGURE_FORMATS)}")
    view = _view(store, run_id)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"run-{run_id}"
    if fmt == "report":
        info = store.run(run_id)
        facts = [("run", f"#{info.id} {info.name}"), ("status", info.status),
                 ("steps", f"{info.steps} of {info.total_steps}"), ("device", info.device)]
        path = folder / f"{stem}-report.html"
        path.write_text(report_html(f"Run #{run_id}: {info.name}", list(run_figures(view).values()), facts),
                        encoding="utf-8")
        return [path]
    if fmt == "animation":
        path = folder / f"{stem}-heatmap-animation.html"
        path.write_text(animation_html(view), encoding="utf-8")
        return [path]
    import plotly.io as pio  # kaleido starts Chromium on first use: only for static formats

    _use_system_chromium()
    if fmt == "gif":
        path = folder / f"{stem}-heatmap.gif"
        path.write_bytes(heatmap_gif(view))
        return [path]
    figures = {name: projector(fig) for name, fig in run_figures(view).items()}
    paths = [folder / f"{stem}-{name}.{fmt}" for name in figures]
    width, height = SLIDE_SIZE
    pio.write_images(list(figures.values()), [str(p) for p in paths], format=fmt, width=width, height=height)
    return paths


def frame_steps(end: int, frames: int = GIF_FRAMES) -> list[int]:
    """At most `frames` cursor steps from the first to `end`, evenly spaced, ending at `end`."""
    count = max(1, min(frames, end))
    return sorted({max(1, round(end * (i + 1) / count)) for i in range(count)})


def heatmap_gif(view) -> bytes:
    """The gradient heatmaps filling in, as an animated GIF at most GIF_WIDTH px wide and GIF_FRAMES frames."""
    import plotly.io as pio
    from PIL import Image

    height = round(GIF_WIDTH * 9 / 16)
    figures = [projector(heatmaps(view.upto(step), height=height)) for step in frame_steps(view.step)]
    with tempfile.TemporaryDirectory() as tmp:
        # One call for every frame: kaleido renders them all in one browser session (a call per frame
        # started Chromium each time, ~3.5 s a frame here).
        paths = [Path(tmp) / f"frame-{i:03d}.png" for i in range(len(figures))]
        pio.write_images(figures, [str(p) for p in paths], format="png", width=GIF_WIDTH, height=height)
        palette = [Image.open(p).convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT)
                   for p in paths]
    buf = io.BytesIO()
    palette[0].save(buf, format="GIF", save_all=True, append_images=palette[1:], duration=GIF_FRAME_MS,
                    loop=0, optimize=True)
    return buf.getvalue()


def animation_html(view) -> str:
    """A self-contained HTML page (plotly.js inside, no CDN) whose frames add the heatmap's columns."""
    import plotly.graph_objects as go

    fig = projector(heatmaps(view))
    steps = frame_steps(view.step)
    heat = [i for i, t in enumerate(fig.data) if t.type == "heatmap"]
    frames = []
    for step in steps:
        data = []
        for i in heat:
            trace = fig.data[i]
            keep = [j for j, x in enumerate(trace.x) if x <= step]
            # Each frame carries only the columns up to its step (z is blocks x steps), never the whole grid again.
            data.append(go.Heatmap(x=[trace.x[j] for j in keep], z=[[row[j] for j in keep] for row in trace.z]))
        frames.append(go.Frame(data=data, traces=heat, name=str(step)))
    fig.frames = frames
    fig.update_layout(updatemenus=[dict(type="buttons", x=0, y=-0.15, xanchor="left", buttons=[
        dict(label="Play", method="animate", args=[None, dict(frame=dict(duration=100, redraw=True),
                                                               fromcurrent=True)])])])
    return fig.to_html(full_html=True, include_plotlyjs=True, config={"displaylogo": False})
