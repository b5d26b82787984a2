"""In Chromium: a page opened by its own address on a fresh server goes through the router, quietly."""

from __future__ import annotations

import pytest

from tests.helpers import assert_no_exception, streamlit_server, wait_idle

pytestmark = pytest.mark.browser

# (address, a heading only that page draws)
ADDRESSES = [("degradation", "Degradation: deeper plain nets train worse"), ("runs", "Runs")]


def visit(browser, url: str, heading: str):
    """Open `url` in a new session and wait for `heading`; return the page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    pg.goto(url)
    wait_idle(pg)
    pg.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    pg.wait_for_timeout(1500)  # a notice would arrive with the rerun that hands over to the router
    return pg


def test_first_visit_by_address_on_a_fresh_server(browser, tmp_path) -> None:
    with streamlit_server(tmp_path) as url:
        for address, heading in ADDRESSES:  # the first is the server's very first session
            pg = visit(browser, f"{url}/{address}", heading)
            assert pg.get_by_role("dialog").count() == 0, pg.get_by_role("dialog").first.inner_text()
            assert pg.get_by_text("Page not found").count() == 0
            # The router ran: its sidebar (device and seed) and its navigation are there.
            sidebar = pg.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Device", exact=True).wait_for(timeout=10_000)
            assert sidebar.get_by_text("Shattered gradients").count() == 1
            assert pg.url.rstrip("/").endswith(f"/{address}")
            assert_no_exception(pg)
            pg.context.close()
