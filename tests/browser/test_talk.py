"""In Chromium: walk a small recorded talk by keyboard at projector sizes; each main figure inside the window."""

from __future__ import annotations

import os
import time

import pytest

from resnet.store import RunStore
from tests.helpers import (
    assert_no_exception,
    chromium_or_fail,
    screenshot,
    streamlit_server,
    wait_for,
    wait_idle,
    write_fixture_talk,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def talk_url(tmp_path_factory: pytest.TempPathFactory):
    """A server whose store holds the fixture talk's runs and whose $GFL_TALKS holds the talk."""
    chromium_or_fail()
    workdir = tmp_path_factory.mktemp("talk-server")
    write_fixture_talk(workdir, RunStore(workdir / "runs.db"))
    old = os.environ.get("GFL_TALKS")
    os.environ["GFL_TALKS"] = str(workdir)
    try:
        with streamlit_server(workdir) as url:
            yield url
    finally:
        os.environ.pop("GFL_TALKS") if old is None else os.environ.update(GFL_TALKS=old)


CAPTIONS = {1: "A small MLP pair", 2: "A small CNN pair", 3: "A run nobody recorded", 4: "Plain and residual nets",
            5: "The small CNN pair with blocks deleted"}
HEATMAP = ".heatmaplayer image"
LINES = ".scatterlayer .trace"
BARS = ".barlayer .trace"


def wait_scene(pg, number: int) -> None:
    """Wait until the counter shows scene `number` and its caption, drawn after its figure, is there (and no
    other scene's caption)."""
    others = [c for n, c in CAPTIONS.items() if n != number]
    pg.wait_for_function(f"() => document.body.innerText.includes('{number} / {len(CAPTIONS)}')"
                         f" && document.body.innerText.includes('{CAPTIONS[number]}')"
                         f" && !{others}.some(c => document.body.innerText.includes(c))", timeout=60_000)
    wait_idle(pg)


def main_figure_inside(pg, width: int, height: int, drawn: str = HEATMAP, index: int = 0) -> None:
    """The scene's figure number `index` has drawn `drawn` (its heatmap, by default) and lies wholly inside the
    window, its ticks at least 16 px."""
    chart = pg.locator('.js-plotly-plot').nth(index)
    chart.locator(drawn).first.wait_for(timeout=60_000)  # in this figure (a legend-only trace draws nothing)
    boxes: list = []  # the replay redraws the chart each tick: poll until one draw is measured
    assert wait_for(lambda: boxes.append(chart.bounding_box()) or boxes[-1] is not None, 20), "no chart box"
    box = boxes[-1]
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    ticks = pg.evaluate("() => Math.min(...Array.from(document.querySelectorAll("
                        "'.js-plotly-plot .xtick text')).map(t => parseFloat(t.style.fontSize)))")
    assert ticks >= 16


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1024, 768)])
def test_walk_the_talk_by_keyboard(browser, talk_url, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    try:
        started = time.monotonic()
        pg.goto(f"{talk_url}/?talk=fixture")
        wait_scene(pg, 1)
        main_figure_inside(pg, width, height)
        first = time.monotonic() - started
        assert not pg.locator('[data-testid="stSidebar"]').is_visible()
        screenshot(pg, f"talk_{width}x{height}_scene1")
        started = time.monotonic()
        pg.keyboard.press("ArrowRight")
        wait_scene(pg, 2)
        main_figure_inside(pg, width, height)
        step = time.monotonic() - started
        screenshot(pg, f"talk_{width}x{height}_scene2")
        pg.keyboard.press("PageDown")
        wait_scene(pg, 3)
        pg.get_by_text("no-such-key").first.wait_for(timeout=30_000)
        screenshot(pg, f"talk_{width}x{height}_scene3")
        pg.keyboard.press("PageUp")
        wait_scene(pg, 2)
        pg.keyboard.press("b")
        pg.wait_for_function("() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
                             ".backgroundColor === 'rgb(0, 0, 0)'", timeout=30_000)
        pg.keyboard.press("b")
        main_figure_inside(pg, width, height)
        assert_no_exception(pg)
        print(f"{width}x{height}: first scene drawn in {first:.1f} s, next scene in {step:.1f} s")
    finally:
        context.close()


def test_recorded_sweep_and_lesion_scenes_at_1280x720(browser, talk_url) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    try:
        started = time.monotonic()
        pg.goto(f"{talk_url}/?talk=fixture&scene=4")
        wait_scene(pg, 4)
        main_figure_inside(pg, 1280, 720, LINES)
        opened = time.monotonic() - started
        pg.get_by_text("At depth 8 the ResNet's training error").first.wait_for(timeout=30_000)
        screenshot(pg, "talk_1280x720_scene4_sweep")
        started = time.monotonic()
        pg.keyboard.press("ArrowRight")
        wait_scene(pg, 5)
        main_figure_inside(pg, 1280, 720, BARS)
        main_figure_inside(pg, 1280, 720, LINES, index=1)
        step = time.monotonic() - started
        screenshot(pg, "talk_1280x720_scene5_lesion")
        assert_no_exception(pg)
        print(f"sweep scene drawn in {opened:.1f} s, lesion scene next in {step:.1f} s")
    finally:
        context.close()


def test_unknown_talk_lists_talks(browser, talk_url) -> None:
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        pg.goto(f"{talk_url}/?talk=nope")
        pg.get_by_text("unknown talk 'nope'").first.wait_for(timeout=60_000)
        assert pg.get_by_role("link", name="fixture").count() == 1
    finally:
        pg.close()


def test_residual_learning_title_scene(browser, talk_url) -> None:
    pg = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        pg.goto(f"{talk_url}/?talk=residual-learning&scene=3")
        pg.get_by_text("No recorded run of preset 'bn-explodes'").first.wait_for(timeout=60_000)
        screenshot(pg, "talk_residual_learning_scene3_unrecorded")
    finally:
        pg.close()


