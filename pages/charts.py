"""The app's figures on the page; those that redraw every tick are updated in place, not mounted afresh.

`st.plotly_chart` gives a chart an id that hashes its spec, so a figure whose numbers change each second is
torn down and built again each second: about 0.5 s of browser work a second for the Gradient flow page's
five charts, taken from the cores that train. Here each chart is one Plotly div that stays on the page;
a redraw hands it the new figure and `Plotly.react` updates what changed (about half the work), and a
chart scrolled out of view draws only when it comes back. The browser loads plotly.js once, from the app's
static folder (no network): plotly.js's own cartesian bundle (pages/assets, MIT), a third of the full
bundle's size and about half its time to load in a fresh browser (0.6 s against 1.1 s here), where it is
the version the plotly package ships; the package's full bundle otherwise. Figures with a trace type the
cartesian bundle lacks, and pages where the folder cannot be written or served, get `st.plotly_chart`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

STATIC = Path(__file__).resolve().parents[1] / "static"  # what `server.enableStaticServing` serves
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
CARTESIAN_JS = Path(__file__).resolve().parent / "assets" / "plotly-cartesian.min.js"
# The trace modules of plotly.js's cartesian bundle (its README).
CARTESIAN_TRACES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                              "image", "pie", "scatter", "scatterternary", "violin"})
# A moving chart shows no hover labels (the next tick would wipe them) and skips Plotly's interaction layers.
STATIC_PLOT = {"staticPlot": True}

_JS = """
function plotlyFrom(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__gflPlotly) {
    window.__gflPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { window.__gflPlotly = null; reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }
  return window.__gflPlotly;
}

function draw(div, src) {
  plotlyFrom(src).then((Plotly) => {
    const next = div.__gflNext;
    if (!next || !div.isConnected) return;
    div.__gflNext = null;
    Plotly.react(div, next.figure.data, next.figure.layout, next.config);
    div.dataset.draws = String(Number(div.dataset.draws || 0) + 1);
    watch(div, Plotly, src);
  }).catch((error) => { div.textContent = "This chart could not be drawn: " + error.message; });
}

function watch(div, Plotly, src) {
  if (div.__gflWatched) return;
  div.__gflWatched = true;
  // Resized on the next frame, and only when the width changed: a resize inside the observer's own
  // callback is the "ResizeObserver loop" error, and a div that left the page cannot be resized.
  new ResizeObserver(() => requestAnimationFrame(() => {
    if (!div.isConnected || div.clientWidth === div.__gflWidth) return;
    div.__gflWidth = div.clientWidth;
    Plotly.Plots.resize(div).catch(() => {});
  })).observe(div);
  // A chart scrolled out of view keeps only its newest figure and draws it as it comes back.
  new IntersectionObserver((entries) => {
    div.__gflVisible = entries[entries.length - 1].isIntersecting;
    if (div.__gflVisible && div.__gflNext) draw(div, src);
  }, { rootMargin: "100px" }).observe(div);
}

export default function (component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector("div.gfl-live-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "gfl-live-chart";
    parentElement.appendChild(div);
  }
  const figure = JSON.parse(data.figure);
  div.style.height = (figure.layout.height || 450) + "px";
  // Only the newest figure is drawn: one that arrives while plotly.js loads, or while the chart is out
  // of view, replaces the one waiting. The first is drawn wherever the chart is, so the page has its layout.
  div.__gflNext = { figure: figure, config: data.config };
  if (!div.__gflWatched || div.__gflVisible) draw(div, data.src);
}
"""

_chart = st.components.v2.component("gfl_live_chart", js=_JS, isolate_styles=False)


def js_version(path: Path) -> str | None:
    """The plotly.js version in a bundle's header comment ("4.1.1"), or None where there is none."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(200)
    except OSError:
        return None
    match = re.search(r"plotly\.js[^\n]* v(\d+\.\d+\.\d+)", head)
    return match[1] if match else None


class Bundle(NamedTuple):
    """A plotly.js bundle: its file, its versioned name in the static folder, and whether it is the cartesian one."""

    path: Path
    name: str
    cartesian: bool


@functools.cache
def bundle() -> Bundle:
    """The plotly.js the page loads: the cartesian bundle only where its version is the plotly package's, so a
    figure never meets a plotly.js older than the one it was built for. The name carries the version, so a
    browser never keeps an older one cached."""
    wanted = js_version(PLOTLY_JS)
    if wanted is not None and js_version(CARTESIAN_JS) == wanted:
        return Bundle(CARTESIAN_JS, f"plotly-cartesian-{wanted}.min.js", True)
    return Bundle(PLOTLY_JS, f"plotly-full-{wanted or 'unknown'}.min.js", False)


def _served() -> bool:
    """Whether the browser can load plotly.js from the app's static folder."""
    return bool(st.get_option("server.enableStaticServing")) and _copied(STATIC, *bundle()[:2])


@functools.cache
def _copied(static: Path, source: Path, name: str) -> bool:
    """Copy the bundle `source` into `static` as `name` once per process; False where that fails."""
    target = static / name
    try:
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            static.mkdir(exist_ok=True)
            # Written aside, then renamed: a second server starting at once never serves half a file.
            with tempfile.NamedTemporaryFile(dir=static, delete=False, suffix=".part") as out:
                out.write(source.read_bytes())
            os.replace(out.name, target)
    except OSError:
        return False
    return True


def drawable(fig: go.Figure) -> bool:
    """Whether the loaded bundle draws every trace of `fig`."""
    return not bundle().cartesian or all((trace.type or "scatter") in CARTESIAN_TRACES for trace in fig.data)


def script_url() -> str:
    """Where the browser finds plotly.js: the static folder under the server's base path."""
    base, name = st.get_option("server.baseUrlPath").strip("/"), bundle().name
    return f"/{base}/app/static/{name}" if base else f"/app/static/{name}"


def chart(fig: go.Figure, *, key: str, moving: bool = False, where: Any = None, config: dict | None = None,
          in_place: bool = False) -> None:
    """Draw `fig` in `where` (a column or container; the page by default) with Plotly's `config`.

    Still: Plotly's own chart, with hover, zoom and download. `moving` (redrawn every tick under the same
    `key`): a static plot, updated in place by the chart already on the page. `in_place`: a still figure
    drawn by that chart too, with hover and zoom (a talk: its first figure loads the smaller bundle, sooner).
    """
    if not (moving or in_place):
        (where or st).plotly_chart(fig, key=key, theme=None, config=config or {})
        return
    config = {**(config or {}), **STATIC_PLOT} if moving else config or {}
    if not (_served() and drawable(fig)):
        (where or st).plotly_chart(fig, key=key, theme=None, config=config)
        return
    with where if where is not None else contextlib.nullcontext():
        _chart(key=key, data={"figure": pio.to_json(fig, validate=False), "src": script_url(), "config": config},
               height=int(fig.layout.height or 450))
