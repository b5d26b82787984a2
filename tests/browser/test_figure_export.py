"""In Chromium: the exported heatmap animation plays from an empty grid to the whole run, offline, and again."""

from __future__ import annotations

from pathlib import Path

import pytest

from figure_export import animation_html
from resnet.store import RunStore
from resnet.views import stored_view
from tests.helpers import record_small_pair

pytestmark = pytest.mark.browser

LAST_CURTAIN = ("() => { const s = (document.querySelector('.js-plotly-plot').layout.shapes || [])"
                ".filter(c => c.name === 'curtain'); return s.length ? s[s.length - 1].x0 : null; }")


def test_the_animation_plays_to_its_last_step(browser, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, residual = record_small_pair(store, family="mlp", steps=12)
    page_file = tmp_path / "animation.html"
    page_file.write_text(animation_html(stored_view(store, residual)), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 720}, offline=True)  # no CDN to reach
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_file.as_uri())
        page.wait_for_selector(".js-plotly-plot")
        page.wait_for_function(f"() => ({LAST_CURTAIN})() === 12.5", timeout=60_000)  # it plays as it opens
        page.get_by_text("Play", exact=True).click()
        page.wait_for_function(f"() => ({LAST_CURTAIN})() !== null && ({LAST_CURTAIN})() < 12")  # covered
        page.wait_for_function(f"() => ({LAST_CURTAIN})() === 12.5", timeout=60_000)  # uncovered to the end
        assert not errors
    finally:
        context.close()
