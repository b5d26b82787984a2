"""In Chromium against a server of its own: training runs in worker processes that never outlive the
server, and a stored run replays with no worker at all."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from resnet.jobs import JobServer
from resnet.query import setup_from_query
from tests.helpers import (
    assert_no_exception,
    descendants,
    pid_running,
    screenshot,
    streamlit_process,
    wait_for,
    wait_idle,
    watch_heatmap,
)

pytestmark = pytest.mark.browser
TINY = {"preset": "custom", "family": "mlp", "depth": "4", "width": "8", "act": "tanh", "norm": "none",
        "dataset": "spirals", "lr": "0.01", "batch": "32"}


def open_page(browser, url: str, width: int = 1280, height: int = 720):
    """A fresh page of its own session at `url`, with page errors kept."""
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    pg.goto(url)
    wait_idle(pg)
    return pg


def progress_step(pg) -> int:
    """The step the page's progress text reports (-1 before there is one)."""
    match = re.search(r"step (\d+) of", pg.locator('[data-testid="stProgress"]').first.inner_text())
    return int(match.group(1)) if match else -1


def test_workers_end_when_the_server_is_killed(browser, tmp_path: Path) -> None:
    with streamlit_process(tmp_path) as (url, proc):
        pg = open_page(browser, url + "/?" + "&".join(f"{k}={v}" for k, v in {**TINY, "steps": "100000"}.items()))
        pg.get_by_role("button", name="Train", exact=True).click()
        watch_heatmap(pg)
        workers = descendants(proc.pid)
        assert workers, "training runs in processes of its own"
        assert_no_exception(pg)
        proc.send_signal(signal.SIGKILL)  # no shutdown handler runs: the workers must notice by themselves
        proc.wait(10)
        left = [pid for pid in workers if not wait_for(lambda pid=pid: not pid_running(pid), 20)]
        assert not left, f"workers {left} outlived their killed server"
        pg.context.close()


def test_a_stored_pair_replays_in_the_browser_with_no_worker(browser, tmp_path: Path) -> None:
    server = JobServer(cap=1)
    try:
        job = server.twins(setup_from_query(TINY).config, 60, store=tmp_path / "runs.db")
        job.set_shortcut(2, False)
        job.train()
        assert wait_for(lambda: job.state == "finished", 60)
        run_id = job.run_ids["residual"]
    finally:
        server.shutdown()
    with streamlit_process(tmp_path) as (url, proc):
        pg = open_page(browser, f"{url}/?run={run_id}&step=20")
        pg.get_by_text(f"Replaying run {run_id - 1} (plain-4) and run {run_id} (res-4)").wait_for(timeout=60_000)
        pg.wait_for_selector('.js-plotly-plot .heatmaplayer image', timeout=60_000)
        assert progress_step(pg) == 20
        pg.wait_for_function(  # the switch made before the first step is marked on the timeline
            "() => Array.from(document.querySelectorAll('.js-plotly-plot text'))"
            ".some(t => t.textContent.includes('block2 off'))", timeout=30_000)
        pg.locator('[data-testid="stSelectbox"]').filter(has_text="Speed").click()
        pg.get_by_role("option", name="fast").click()
        pg.get_by_role("button", name="Play").click()
        pg.wait_for_function("() => /step (\\d+) of/.exec(document.body.innerText)[1] > 30", timeout=30_000)
        pg.wait_for_function("() => /step 60 of 60/.test(document.body.innerText)", timeout=60_000)
        assert_no_exception(pg)
        assert not descendants(proc.pid), "a replay starts no worker process"
        screenshot(pg, "gradient_flow_replay")
        pg.context.close()
