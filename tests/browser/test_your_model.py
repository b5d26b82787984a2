"""In Chromium: the Your model page probes one batch of a small zoo model in a worker and draws its profile."""

from __future__ import annotations

import pytest

from tests.helpers import assert_no_exception, screenshot, wait_idle

pytestmark = pytest.mark.browser


def set_number(page, label: str, value: int) -> None:
    """Type `value` into the number input labelled `label` and commit it, as a visitor does."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_probing_resnet18_draws_its_profile(page) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    # Through the router's sidebar, as a visitor does: until st.navigation has run once, a deep link to
    # /your-model is answered with "Page not found".
    page.goto(page.app_url)
    wait_idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Seed").wait_for(timeout=120_000)
    page.get_by_role("link", name="Your model", exact=True).click()
    page.get_by_role("button", name="Probe one batch").wait_for(timeout=120_000)
    set_number(page, "Batch", 2)
    set_number(page, "Power iterations", 0)
    assert page.get_by_label("Input size", exact=True).input_value() == "32"
    page.get_by_role("link", name="Train live in the Gradient flow view").wait_for(timeout=30_000)
    page.get_by_role("button", name="Probe one batch").click()
    page.get_by_text("resnet18, batch 2×3×32×32").first.wait_for(timeout=300_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1"
                           " && !document.querySelector('[data-testid=\"stProgress\"]')", timeout=120_000)
    wait_idle(page)
    assert "Gradient norms per block" in page.locator(".js-plotly-plot").first.text_content()
    assert page.locator(".js-plotly-plot").count() == 1  # no power iterations asked for: no spectra figure
    assert page.get_by_text("Largest relative difference over 8 blocks").count() == 1
    assert_no_exception(page)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="failed").count() == 0
    screenshot(page, "your-model-resnet18")
