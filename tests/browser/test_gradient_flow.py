"""In Chromium: open the vanishing preset, train, see the heatmaps, cut a shortcut, see the views move."""

from __future__ import annotations

import re
import time

import pytest

from resnet.store import RunStore
from tests.helpers import assert_no_exception, screenshot, wait_idle, watch_heatmap

pytestmark = pytest.mark.browser


def open_gradient_flow(pg) -> None:
    """Wait until the page has drawn its title and its Train button."""
    wait_idle(pg)
    pg.get_by_text("Gradient flow: plain vs residual").wait_for(timeout=60_000)
    pg.get_by_role("button", name="Train", exact=True).wait_for(timeout=60_000)


def progress_step(pg) -> int:
    """The step the page's progress text reports."""
    text = pg.locator('[data-testid="stProgress"]').first.inner_text()
    match = re.search(r"step (\d+) of", text)
    return int(match.group(1)) if match else -1


def test_vanishing_preset_trains_and_toggles(page, app_dir) -> None:
    page.goto(f"{page.app_url}/?preset=vanishing&steps=5000")  # the preset's net, trained long enough to click
    open_gradient_flow(page)
    started = time.monotonic()
    page.get_by_role("button", name="Train", exact=True).click()
    # Two heatmaps per panel row: wait until both gradient heatmaps are drawn.
    watch_heatmap(page)
    seconds_to_heatmap = time.monotonic() - started
    page.wait_for_function("() => document.querySelectorAll('.gfl-live-chart.js-plotly-plot').length >= 5",
                           timeout=60_000)
    # While it trains, each redraw updates the charts already on the page instead of mounting new ones,
    # and a chart out of view waits until it is scrolled to. A look can fall between two draws of the chart,
    # so the image is found, and the chart marked, in one evaluation that waits for the image to be there.
    page.wait_for_function("() => { const c = document.querySelector('.gfl-live-chart');"
                           " const image = c && c.querySelector('.heatmaplayer image'); if (!image) return false;"
                           " c.dataset.mark = 'kept'; window.firstImage = image.getAttribute('href'); return true; }",
                           timeout=30_000)
    page.wait_for_function("() => { const image = document.querySelector('.gfl-live-chart .heatmaplayer image');"
                           " return !!image && image.getAttribute('href') !== window.firstImage; }", timeout=30_000)
    assert page.evaluate("() => document.querySelector('.gfl-live-chart').dataset.mark") == "kept"
    assert not page.locator('[data-testid="stPlotlyChart"]').count()
    draws = "() => Array.from(document.querySelectorAll('.gfl-live-chart')).map(c => Number(c.dataset.draws))"
    seen = page.evaluate(draws)
    page.wait_for_function(f"() => ({draws})()[0] >= {seen[0] + 2}", timeout=30_000)
    assert page.evaluate(draws)[4] == seen[4]  # the loss curves, below the fold
    page.evaluate("() => document.querySelectorAll('.gfl-live-chart')[4].scrollIntoView()")
    page.wait_for_function(f"() => ({draws})()[4] > {seen[4]}", timeout=30_000)
    page.evaluate("() => document.querySelector('.gfl-live-chart').scrollIntoView()")
    assert page.get_by_text("vanishes on its way back").first.is_visible()
    before = progress_step(page)
    assert before > 0

    # Cut the first block's shortcut while it trains; the timeline gets a mark and the views move on.
    page.get_by_role("button", name="block0", exact=True).click()
    page.evaluate("() => document.querySelector('.gfl-live-chart').scrollIntoView()")  # back to the heatmap
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot text'))"
        ".some(t => t.textContent.includes('block0 off'))", timeout=60_000)
    page.wait_for_function(f"() => /step (\\d+) of/.exec(document.body.innerText)[1] > {before + 5}",
                           timeout=60_000)
    assert progress_step(page) > before
    assert_no_exception(page)
    path = screenshot(page, "gradient_flow_vanishing")
    assert path.stat().st_size > 10_000
    print(f"heatmaps visible {seconds_to_heatmap:.1f} s after pressing Train")

    # All off / All on clicked faster than the page redraws: each click is one switch of every
    # block, in the order clicked, and none comes back to undo another.
    for name, pause in [("All off", 0.3), ("All on", 0.7), ("All off", 1.1), ("All on", 0.2), ("All off", 2.0)]:
        page.get_by_role("button", name=name, exact=True).click()
        time.sleep(pause)
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_selector("text=/paused/", timeout=30_000)
    residual = int(re.search(r"run (\d+) \(residual\)", page.locator("body").inner_text()).group(1))
    events = RunStore(app_dir / "runs.db").events(residual)
    switches = [(step, on) for step, on in dict.fromkeys((step, on) for step, block, on in events if block != 0)]
    assert [on for _, on in switches] == [False, True, False, True, False], events
    assert all(sum(1 for _, b, on in events if (b, on) == (block, False)) == 3 for block in range(1, 50))


def test_diverging_run_keeps_records_and_reset_recovers(page) -> None:
    page.goto(f"{page.app_url}/?preset=custom&family=mlp&depth=8&width=16&act=relu&norm=none"
              "&dataset=spirals&lr=1000&batch=32&steps=200")
    open_gradient_flow(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60_000)
    assert "diverged" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)  # what was recorded stays
    assert_no_exception(page)
    screenshot(page, "gradient_flow_diverged")
    page.get_by_role("button", name="Reset", exact=True).click()
    page.wait_for_selector("text=Press Train (or Step) to start", timeout=30_000)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_bad_link_values_warn_and_fall_back(page) -> None:
    page.goto(f"{page.app_url}/?preset=nope&depth=abc")
    open_gradient_flow(page)
    page.wait_for_selector('[data-testid="stAlertContentWarning"]', timeout=30_000)
    text = " ".join(page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
    assert "unknown preset 'nope'" in text and "depth='abc'" in text
    assert "preset=vanishing" in page.url
    assert_no_exception(page)
