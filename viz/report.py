"""A standalone HTML report of a run's figures: plotly.js inside the file, so it opens offline."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from viz.theme import TEMPLATE


def report_html(title: str, figures: Sequence[go.Figure], facts: Sequence[tuple[str, str]] = ()) -> str:
    """A standalone HTML page of `figures` with plotly.js embedded once, so it opens offline."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
             for i, fig in enumerate(figures)]
    font = TEMPLATE.layout.font.family
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>body{{font-family:{font};margin:2em;color:#1f2328}} th{{text-align:left;padding-right:1em}}"
            f"</style></head><body><h1>{html.escape(title)}</h1><table>{rows}</table>"
            + "".join(f"<div>{p}</div>" for p in parts) + "</body></html>")
