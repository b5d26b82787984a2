"""Shared fixtures: one torch thread, a store per test, a live app server and a Chromium page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import CHROMIUM_ARGS, chromium_or_fail, streamlit_server

# Property tests: a bounded number of examples, no per-example deadline (a first step pays for
# loading data), and in CI the same examples on every run.
settings.register_profile("gfl", max_examples=50, deadline=None, derandomize=os.environ.get("CI") == "true")
settings.load_profile("gfl")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tiny test nets step fastest on one intra-op thread; the app server under test gets the other core."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes runs to a store of its own, never to runs/runs.db."""
    monkeypatch.setenv("GFL_STORE", str(tmp_path_factory.mktemp("store") / "runs.db"))


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The browser tests' app server's folder: its store is `runs.db` there."""
    return tmp_path_factory.mktemp("app-server")


@pytest.fixture(scope="session")
def app_url(app_dir: Path) -> Iterator[str]:
    """One app server for the browser tests, with a fresh store."""
    chromium_or_fail()
    with streamlit_server(app_dir) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright

    executable = chromium_or_fail()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh browser page (own session) sized like a projector, with its console errors kept."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    pg.app_url = app_url
    yield pg
    context.close()


