"""In Chromium: each analysis page runs its default in a worker process, polls it, and draws the result."""

from __future__ import annotations

import pytest

from tests.helpers import assert_no_exception, screenshot, wait_idle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("page_name", "title"), [("lesion", "Lesion study"), ("attributions", "Attributions"),
                                                  ("landscape", "Loss landscape"),
                                                  ("shattered", "Shattered gradients")])
def test_each_page_runs_its_default_in_the_browser(page, page_name: str, title: str) -> None:
    page.goto(page.app_url)
    wait_idle(page)
    page.get_by_role("link", name=title, exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Run").click(timeout=120_000)
    # The job's progress shows while it runs: the page's own session stays responsive meanwhile.
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
    # The first page trains the default pair in a worker and records it; the others load it from the store.
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2"
                           " && !document.querySelector('[data-testid=\"stProgress\"]')", timeout=600_000)
    wait_idle(page, timeout_ms=600_000)
    assert_no_exception(page)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="must be").count() == 0
    assert page.locator('[data-testid="stAlert"]').filter(has_text="failed").count() == 0
    screenshot(page, f"analysis-{page_name}")
