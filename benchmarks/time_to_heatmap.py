"""Train -> first gradient heatmap in Chromium, and the steps/s the page then shows, per preset.

Usage: .venv/bin/python benchmarks/time_to_heatmap.py [preset ...] [--runs N] [--seconds S]
Starts `streamlit run app.py` on a free port, opens /?preset=<slug> in a fresh browser context
for every run, and prints the median and spread of the time to the first heatmap, the steps per
second the page's own progress line advances over the next S seconds, and the summed rate of two
sessions training at once (each in its own worker process).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def free_port() -> int:
    """A free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step_on_page(page) -> int:
    """The step the page's progress line reports."""
    match = re.search(r"step (\d+) of", page.locator('[data-testid="stProgress"]').first.inner_text())
    return int(match.group(1)) if match else 0


def start_training(browser, url: str, preset: str):
    """A fresh session on `preset`; returns (page, seconds from Train to the first heatmap)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/?preset={preset}&steps=100000")
    page.wait_for_selector('.js-plotly-plot', timeout=120_000)
    page.wait_for_timeout(500)
    start = time.monotonic()
    page.get_by_role("button", name="Train", exact=True).click()
    # Attached, not "visible": Playwright's visibility check waits for a quiet renderer, and one redrawing
    # live figures twice a second answered it 12-15 s after the heatmap was on screen.
    # The session watches its heatmap, as a user would: the charts in view redraw, those out of view wait.
    page.evaluate("() => document.querySelector('.js-plotly-plot').scrollIntoView()")
    page.wait_for_selector('.js-plotly-plot .heatmaplayer image', state="attached", timeout=120_000)
    return page, time.monotonic() - start


def leave(page) -> None:
    """Pause the session's training, then close its tab: the next measurement starts with every slot free."""
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_function("() => /· paused/.test(document.querySelector('[data-testid=\"stProgress\"]')"
                           "?.innerText || '')", timeout=60_000)
    page.context.close()


def page_rates(pages, seconds: float) -> list[float]:
    """Steps per second each page's progress line advances over `seconds`."""
    first = [step_on_page(p) for p in pages]
    start = time.monotonic()
    pages[0].wait_for_timeout(seconds * 1000)
    elapsed = time.monotonic() - start
    return [(step_on_page(p) - f) / elapsed for p, f in zip(pages, first, strict=True)]


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["vanishing", "bn-explodes"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "GFL_STORE": "/tmp/gfl-bench-store.db"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        print(f"{'preset':<14} {'median s':>9} {'min s':>7} {'max s':>7} {'steps/s':>8} {'2 sessions':>11}"
              f"  (Train -> first heatmap over {args.runs} runs; page steps/s over {args.seconds:g} s)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for preset in args.presets:
                times, rates = [], []
                for _ in range(args.runs):
                    page, seconds = start_training(browser, url, preset)
                    times.append(seconds)
                    rates += page_rates([page], args.seconds)
                    leave(page)
                pair = [start_training(browser, url, preset)[0] for _ in range(2)]
                both = sum(page_rates(pair, args.seconds))
                for page in pair:
                    leave(page)
                print(f"{preset:<14} {statistics.median(times):>9.2f} {min(times):>7.2f} {max(times):>7.2f} "
                      f"{statistics.median(rates):>8.1f} {both:>11.1f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
