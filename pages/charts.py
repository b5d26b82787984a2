"""The app's figures on the page; those that redraw every tick are updated in place, not mounted afresh.

`st.plotly_chart` gives a chart an id that hashes its spec, so a figure whose numbers change each second is
torn down and built again each second: about 0.5 s of browser work a second for the Gradient flow page's
five charts, taken from the cores that train. Here each chart is one Plotly div that stays on the page;
a redraw hands it the new figure and `Plotly.react` updates what changed (about half the work). The
browser loads the Python package's own plotly.js once, from the app's static folder (no network).
Where that folder cannot be written or served, the charts fall back to `st.plotly_chart`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

STATIC = Path(__file__).resolve().parents[1] / "static"  # what `server.enableStaticServing` serves
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SCRIPT = "plotly.min.js"
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
  // Only the newest figure is drawn: a tick that arrives while plotly.js loads replaces the one waiting.
  div.__gflNext = figure;
  plotlyFrom(data.src).then((Plotly) => {
    const next = div.__gflNext;
    if (!next) return;
    div.__gflNext = null;
    Plotly.react(div, next.data, next.layout, data.config);
    if (!div.__gflResize) {
      // Resized on the next frame, and only when the width changed: a resize inside the observer's own
      // callback is the "ResizeObserver loop" error, and a div that left the page cannot be resized.
      div.__gflResize = new ResizeObserver(() => requestAnimationFrame(() => {
        if (!div.isConnected || div.clientWidth === div.__gflWidth) return;
        div.__gflWidth = div.clientWidth;
        Plotly.Plots.resize(div).catch(() => {});
      }));
      div.__gflResize.observe(div);
    }
  }).catch((error) => { div.textContent = "This chart could not be drawn: " + error.message; });
}
"""

_chart = st.components.v2.component("gfl_live_chart", js=_JS, isolate_styles=False)


def _served() -> bool:
    """Whether the browser can load plotly.js from the app's static folder."""
    return bool(st.get_option("server.enableStaticServing")) and _copied(STATIC)


@functools.cache
def _copied(static: Path) -> bool:
    """Copy the plotly package's plotly.js into `static` once per process; False where that fails."""
    target = static / SCRIPT
    try:
        if not target.is_file() or target.stat().st_size != PLOTLY_JS.stat().st_size:
            static.mkdir(exist_ok=True)
            # Written aside, then renamed: a second server starting at once never serves half a file.
            with tempfile.NamedTemporaryFile(dir=static, delete=False, suffix=".part") as out:
                out.write(PLOTLY_JS.read_bytes())
            os.replace(out.name, target)
    except OSError:
        return False
    return True


def script_url() -> str:
    """Where the browser finds plotly.js: the static folder under the server's base path."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"/{base}/app/static/{SCRIPT}" if base else f"/app/static/{SCRIPT}"


def chart(fig: go.Figure, *, key: str, moving: bool = False, where: Any = None, config: dict | None = None) -> None:
    """Draw `fig` in `where` (a column or container; the page by default) with Plotly's `config`.

    Still: Plotly's own chart, with hover, zoom and download. `moving` (redrawn every tick under the same
    `key`): a static plot, updated in place by the chart already on the page.
    """
    if not moving:
        (where or st).plotly_chart(fig, key=key, theme=None, config=config or {})
        return
    config = {**(config or {}), **STATIC_PLOT}
    if not _served():
        (where or st).plotly_chart(fig, key=key, theme=None, config=config)
        return
    with where if where is not None else contextlib.nullcontext():
        _chart(key=key, data={"figure": pio.to_json(fig, validate=False), "src": script_url(), "config": config},
               height=int(fig.layout.height or 450))
