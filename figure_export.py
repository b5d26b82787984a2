"""`python -m resnet runs export ID --format png|svg|gif|animation|report` and the Runs page's figure downloads:
a run's figures for slides.

A front end like app.py and pages/, so resnet/ stays free of Plotly: it draws the stored run's RunView with
viz/'s one set of figure functions. Static images go through Plotly's write_image with kaleido 1.x
and the system's Chromium; kaleido is never let to download a browser.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from resnet.cli import FIGURE_FORMATS
from resnet.store import RunInfo, RunStore, StoreError
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


def static_images_unavailable() -> str | None:
    """Why PNG, SVG and GIF cannot be drawn here (no Chromium), or None."""
    try:
        chromium()
    except StoreError as err:
        return str(err)
    return None


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
    files = figure_files(store, run_id, fmt)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def figure_files(store: RunStore, run_id: int, fmt: str) -> dict[str, bytes]:
    """Run `run_id`'s figures in format `fmt` (one of FIGURE_FORMATS), as file names and contents."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FIGURE_FORMATS)}")
    view = _view(store, run_id)
    stem = f"run-{run_id}"
    if fmt == "report":
        return {f"{stem}-report.html": report_page(store, run_id, view).encode()}
    if fmt == "animation":
        return {f"{stem}-heatmap-animation.html": animation_html(view).encode()}
    import plotly.io as pio  # kaleido starts Chromium on first use: only for static formats

    _use_system_chromium()
    if fmt == "gif":
        return {f"{stem}-heatmap.gif": heatmap_gif(view)}
    figures = {f"{stem}-{name}.{fmt}": projector(fig) for name, fig in run_figures(view).items()}
    width, height = SLIDE_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        # One call for every figure: kaleido renders them all in one browser session.
        paths = [Path(tmp) / name for name in figures]
        pio.write_images(list(figures.values()), [str(p) for p in paths], format=fmt, width=width, height=height)
        return {p.name: p.read_bytes() for p in paths}


def figure_download(store: RunStore, run_id: int, fmt: str) -> bytes:
    """`figure_files` as one download: the file itself where the format makes one, else a zip of them."""
    files = figure_files(store, run_id, fmt)
    return next(iter(files.values())) if len(files) == 1 else zip_files(files)


def zip_files(files: dict[str, bytes]) -> bytes:
    """Files (name -> contents) in one deflated zip archive, as bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def report_page(store: RunStore, run_id: int, view=None) -> str:
    """A standalone HTML page with the run's settings and figures (plotly.js embedded: it opens offline);
    `view`, the run's stored view where the caller has read it already."""
    info = store.run(run_id)
    view = stored_view(store, run_id) if view is None else view
    figs = list(run_figures(view).values()) if view.started else []
    return report_html(f"Run #{run_id}: {info.name}", figs, run_facts(info))


def run_facts(info: RunInfo) -> list[tuple[str, str]]:
    """The run's settings and outcome as (name, value) pairs."""
    c, m = info.config, info.config.model
    model = (f"{m.family.upper()} depth {m.depth} width {m.width}, {'residual' if m.residual else 'plain'}, "
             f"{m.block} blocks, shortcut {m.shortcut}, norm {m.norm}, act {m.act}" + (", pre-activation"
                                                                                     if m.preact else ""))
    optimiser = f"{c.optimizer} lr {c.lr:g}, momentum {c.momentum:g}, weight decay {c.weight_decay:g}, " \
                f"batch {c.batch_size}, schedule {c.schedule}, seed {c.seed}"
    return [("run", f"#{info.id} {info.name}"), ("model", model), ("data set", c.dataset),
            ("optimiser", optimiser), ("status", info.status + (f" ({info.message})" if info.message else "")),
            ("steps", f"{info.steps} of {info.total_steps}"), ("device", info.device),
            ("training time", f"{info.seconds:.1f} s")]


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
    """A self-contained HTML page (plotly.js inside, no CDN) whose frames uncover the heatmaps column by column;
    it plays once as it opens, and Play plays it again."""
    return animation_figure(view).to_html(full_html=True, include_plotlyjs=True, auto_play=True,
                                          config={"displaylogo": False})


def animation_figure(view):
    """The run's heatmaps with the grid's values once and one frame per step of `frame_steps`, each moving
    a curtain over the columns still to come; Play starts over from the first frame."""
    import plotly.graph_objects as go

    fig = projector(heatmaps(view))
    fig.frames = [go.Frame(name=str(step), layout=dict(shapes=uncovered_to(fig, step)))
                  for step in frame_steps(view.step)]
    play = dict(frame=dict(duration=100, redraw=True), fromcurrent=False, transition=dict(duration=0))
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    fig.update_layout(updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.15, xanchor="left", buttons=[
        dict(label="Play", method="animate", args=[None, play]),
        dict(label="Pause", method="animate", args=[[None], pause])])])
    return fig


def uncovered_to(fig, step: int) -> list[dict]:
    """`fig`'s shapes, then a curtain over each heatmap panel's columns after `step`, in the plot's background.

    The grid's values are in the page once; a frame moves the curtains. Drawn last, a curtain also hides
    the shortcut switches that come later, so each appears as the animation reaches it.
    """
    background = fig.layout.plot_bgcolor or fig.layout.template.layout.plot_bgcolor or "white"
    curtains = []
    for trace in fig.data:
        if trace.type != "heatmap":
            continue
        xaxis = trace.xaxis or "x"
        end = fig.layout[xaxis.replace("x", "xaxis", 1)].range[1]
        curtains.append(dict(type="rect", name="curtain", xref=xaxis, yref=f"{trace.yaxis or 'y'} domain",
                             x0=step + 0.5, x1=end, y0=0, y1=1, fillcolor=background, line=dict(width=0),
                             layer="above"))
    return [shape.to_plotly_json() for shape in fig.layout.shapes] + curtains
