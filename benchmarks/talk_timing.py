"""Seconds until a talk scene that replays a recorded run or sweep shows its main figure, in Chromium.

    .venv/bin/python -m benchmarks.talk_timing [--steps 100] [--runs 3] [--workdir /tmp/gfl-talk-bench]

Records a four-scene talk (two `vanishing` scenes, one with scripted cuts, `bn-explodes`, and a 20/56
depth sweep) with `--steps` steps into a scratch store once, then starts `streamlit run app.py` on it
and measures: (a) the first scene on a cold server (its first page run imports torch and the engine),
(b) the first scene of a fresh browser session once the server is warm, (c) next (ArrowRight) and
previous (ArrowLeft) between replay scenes, (d) the sweep scene opened in a fresh session, and reached
by ArrowRight. A figure counts as drawn when its heatmap image (a sweep: its curves) is on screen, no
longer marked stale, under the new scene's counter. Each phase is split into "script" (the key or the
address until the scene's counter shows: the server's run) and "figure" (until the figure is drawn).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GFL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
TALK = """title = "Timing"
[[scenes]]
title = "Vanishing"
caption = "The vanishing twins, recorded."
preset = "vanishing"
steps = {steps}
[[scenes]]
title = "Cut"
caption = "The same twins with shortcuts cut and restored."
preset = "vanishing"
steps = {steps}
[[scenes.actions]]
at = {cut}
cut = [10, 30]
[[scenes.actions]]
at = {restore}
restore = "all"
[[scenes]]
title = "Batch norm"
caption = "The batch-norm twins, recorded."
preset = "bn-explodes"
steps = {steps}
[[scenes]]
title = "Degradation"
caption = "A recorded 20/56 sweep."
[scenes.sweep]
depths = [20, 56]
steps = {steps}
"""
SCENES = 4
SWEEP_SCENE = 4
VIEWPORT = {"width": 1280, "height": 720}
# The main figure of the current scene (`drawn`: a selector of its drawn marks, a replay's heatmap image or a
# sweep's curves): on screen, not stale, and not the figure that was there before the key.
DRAWN = """([number, count, drawn]) => {
  if (!document.body.innerText.includes(`${number} / ${count}`)) return false;
  const chart = document.querySelector('.gfl-live-chart, [data-testid="stPlotlyChart"]');
  if (!chart || chart.closest('[data-stale="true"]')) return false;
  const plot = chart.matches('.js-plotly-plot') ? chart : chart.querySelector('.js-plotly-plot');
  return !!plot && plot.data !== window.__gflBefore && !!chart.querySelector(drawn);
}"""


def record(workdir: Path, steps: int) -> None:
    """Write the timing talk and record its scenes into workdir/runs.db (scenes already there are kept)."""
    from resnet.store import RunStore
    from resnet.talk_record import record_talk
    from resnet.talks import load_talk

    path = workdir / "timing.toml"
    path.write_text(TALK.format(steps=steps, cut=max(1, steps * 2 // 5), restore=max(2, steps * 7 // 10)))
    started = time.monotonic()
    record_talk(load_talk(path), RunStore(workdir / "runs.db"), device="cpu")
    print(f"talk recorded ({steps} steps a scene) in {time.monotonic() - started:.1f} s")


def serve(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port over workdir's store and talks; (process, base URL)."""
    from tests.helpers import free_port

    port = free_port()
    env = {**os.environ, "GFL_STORE": str(workdir / "runs.db"), "GFL_TALKS": str(workdir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("streamlit did not start")


def wait_drawn(page, number: int, started: float) -> tuple[float, float]:
    """Seconds from `started` until scene `number`'s counter shows, and until its main figure is drawn."""
    page.wait_for_function(f"() => document.body.innerText.includes('{number} / {SCENES}')", timeout=120_000,
                           polling="raf")
    script = time.monotonic() - started
    drawn = ".scatterlayer .trace" if number == SWEEP_SCENE else ".heatmaplayer image"
    page.wait_for_function(DRAWN, arg=[number, SCENES, drawn], timeout=120_000, polling="raf")
    return script, time.monotonic() - started


def open_scene(context, url: str, number: int):
    """A new tab (a fresh session) of `context` at scene `number`; (page, (script s, drawn s))."""
    page = context.new_page()
    started = time.monotonic()
    page.goto(f"{url}/?talk=timing&scene={number}")
    return page, wait_drawn(page, number, started)


def press(page, key: str, number: int) -> tuple[float, float]:
    """Press `key` and time scene `number`'s figure."""
    page.evaluate("() => { const p = document.querySelector("
                  "'.gfl-live-chart.js-plotly-plot, [data-testid=\"stPlotlyChart\"] .js-plotly-plot');"
                  " window.__gflBefore = p ? p.data : null; }")
    started = time.monotonic()
    page.keyboard.press(key)
    return wait_drawn(page, number, started)


def row(name: str, times: list[tuple[float, float]]) -> str:
    """One line of the table: the median and range of the drawn time, and the median script part."""
    drawn = [t[1] for t in times]
    return (f"{name:<34} {statistics.median(drawn):>8.2f} {min(drawn):>7.2f} {max(drawn):>7.2f} "
            f"{statistics.median(t[0] for t in times):>9.2f}")


def main() -> None:
    """Record the talk if needed, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps of each recorded scene")
    parser.add_argument("--runs", type=int, default=3, help="fresh sessions measured on the warm server")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gfl-talk-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    record(args.workdir, args.steps)
    results: dict[str, list[tuple[float, float]]] = {
        "first scene, cold server": [], "first scene, warm server": [], "  same, browser cache warm": [],
        "next (ArrowRight)": [], "previous (ArrowLeft)": [], "sweep scene, fresh session": [],
        "next into the sweep scene": []}
    server, url = serve(args.workdir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport=VIEWPORT)
            results["first scene, cold server"].append(open_scene(context, url, 1)[1])
            context.close()
            for _ in range(args.runs):
                context = browser.new_context(viewport=VIEWPORT)  # a browser with an empty cache
                page, warm = open_scene(context, url, 1)
                results["first scene, warm server"].append(warm)
                results["next (ArrowRight)"].append(press(page, "ArrowRight", 2))
                results["next (ArrowRight)"].append(press(page, "ArrowRight", 3))
                results["previous (ArrowLeft)"].append(press(page, "ArrowLeft", 2))
                results["previous (ArrowLeft)"].append(press(page, "ArrowLeft", 1))
                page.close()
                results["  same, browser cache warm"].append(open_scene(context, url, 1)[1])
                context.close()
                context = browser.new_context(viewport=VIEWPORT)
                page, sweep = open_scene(context, url, SWEEP_SCENE)
                results["sweep scene, fresh session"].append(sweep)
                press(page, "ArrowLeft", SWEEP_SCENE - 1)
                results["next into the sweep scene"].append(press(page, "ArrowRight", SWEEP_SCENE))
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    load = os.getloadavg()[0]
    print(f"{'1280x720, Chromium, seconds':<34} {'median s':>8} {'min s':>7} {'max s':>7} {'script s':>9}"
          f"   (load {load:.1f}, {os.cpu_count()} cores)")
    for name, times in results.items():
        print(row(name, times))


if __name__ == "__main__":
    main()
