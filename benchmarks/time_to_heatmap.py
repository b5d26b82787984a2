"""Seconds from pressing Train to the first gradient heatmap on screen, in Chromium, per preset.

Usage: .venv/bin/python benchmarks/time_to_heatmap.py [preset ...] [--runs N]
Starts `streamlit run app.py` on a free port, opens /?preset=<slug> in a fresh browser context
for every run, and prints the median and the spread.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["vanishing", "bn-explodes"])
    parser.add_argument("--runs", type=int, default=3)
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
        print(f"{'preset':<14} {'median s':>9} {'min s':>7} {'max s':>7}  (Train -> first heatmap, {args.runs} runs)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for preset in args.presets:
                times = []
                for _ in range(args.runs):
                    context = browser.new_context(viewport={"width": 1600, "height": 1000})
                    page = context.new_page()
                    page.goto(f"{url}/?preset={preset}")
                    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
                    page.wait_for_timeout(500)
                    start = time.monotonic()
                    page.get_by_role("button", name="Train", exact=True).click()
                    page.wait_for_selector('[data-testid="stPlotlyChart"] .heatmaplayer image', timeout=120_000)
                    times.append(time.monotonic() - start)
                    context.close()
                print(f"{preset:<14} {statistics.median(times):>9.2f} {min(times):>7.2f} {max(times):>7.2f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
