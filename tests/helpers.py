"""Helpers the tests import: a live `streamlit run` server, Chromium waits and screenshots, fixtures' data."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("GFL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


def untrained_digits_pair(seed: int):
    """Untrained CIFAR-style twins (depth 8, width 4) on digits, BN statistics taken from the data.

    Properties such as completeness or filter norms hold at any weights, so no training is needed.
    """
    import torch

    from resnet.analysis.pairs import freeze_pair
    from resnet.data import load_dataset
    from resnet.nets import cifar_resnet
    from resnet.trainer import TrainConfig, copy_matching

    torch.manual_seed(seed)
    residual = cifar_resnet(8, residual=True, width=4, in_channels=1)
    plain = cifar_resnet(8, residual=False, width=4, in_channels=1)
    copy_matching(residual, plain)
    data = load_dataset("digits")
    with torch.no_grad():  # BN statistics of real data, as a trained net has
        for net in (plain, residual):
            net.train()(data.train_x[:512])
    return freeze_pair(plain, residual, data, TrainConfig(), source="untrained twins")


def free_port() -> int:
    """A free localhost TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_or_fail() -> str:
    """The Chromium binary; in CI a missing one fails the test, elsewhere it skips it."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def streamlit_process(workdir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `streamlit run app.py` on a free port with a store under `workdir`; yield its URL and process.

    On the way out the server is stopped (SIGTERM, as Ctrl-C or a service manager would) and every
    process it started (the job server's forkserver and workers) must be gone within 15 s.
    """
    port = free_port()
    env = {**os.environ, "GFL_STORE": str(workdir / "runs.db"), "PYTHONUNBUFFERED": "1", **(env or {})}
    log = open(workdir / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.3)
        yield url, proc
    finally:
        children = descendants(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    left = [pid for pid in children if not wait_for(lambda pid=pid: not pid_running(pid), 15)]
    assert not left, f"processes {left} outlived the app server"


@contextmanager
def streamlit_server(workdir: Path) -> Iterator[str]:
    """Run `streamlit run app.py` on a free port with a store under `workdir`; yield its base URL."""
    with streamlit_process(workdir) as (url, _):
        yield url


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_idle(pg, timeout_ms: int = 60_000) -> None:
    """Wait until the app has rendered and Streamlit's run indicator is gone."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    pg.wait_for_selector('[data-testid="stMainBlockContainer"]', timeout=timeout_ms)
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] button')"
        " || !document.body.innerText.includes('Running')",
        timeout=timeout_ms,
    )


def watch_heatmap(pg, timeout_ms: int = 60_000) -> None:
    """Scroll to the page's first chart, as a user watching it would (a moving chart out of view waits to be
    seen before it draws), and wait until it has drawn a heatmap."""
    pg.wait_for_selector(".js-plotly-plot", state="attached", timeout=timeout_ms)
    pg.evaluate("() => document.querySelector('.js-plotly-plot').scrollIntoView()")
    pg.wait_for_function("() => document.querySelector('.js-plotly-plot .heatmaplayer image')", timeout=timeout_ms)


def assert_no_exception(pg) -> None:
    """Fail if the page shows a Python exception or the browser logged a page error."""
    exceptions = pg.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert not pg.console_errors, pg.console_errors


def screenshot(pg, name: str) -> Path:
    """Save a screenshot of the whole page under tests/artifacts/ and return its path.

    Streamlit scrolls inside its main container, so the viewport is stretched to that
    container's height first (a plain full-page shot would stop at the window's edge).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = pg.viewport_size or {"width": 1600, "height": 1000}
    height = pg.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 80, 12_000))})
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(path), full_page=True)
    pg.set_viewport_size(size)
    return path


def wait_for(condition, timeout: float, every: float = 0.05) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds pass; returns its last verdict."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def record_small_pair(store, *, family: str = "cnn", steps: int = 30) -> tuple[int, int]:
    """Small twins trained for `steps` steps and recorded in `store` as a pair; (plain id, residual id).

    "cnn": a CIFAR-style depth-8, width-4 net on digits (images); "mlp": a depth-4 BN ReLU MLP on spirals.
    """
    from resnet.analysis.pairs import record_twin_pair
    from resnet.trainer import ModelSpec, TrainConfig

    spec = (ModelSpec(family="cnn", depth=8, width=4) if family == "cnn"
            else ModelSpec(family="mlp", depth=4, width=8, norm="batch", act="relu"))
    config = TrainConfig(model=spec, dataset="digits" if family == "cnn" else "spirals", device="cpu",
                         test_every=steps)
    return record_twin_pair(store, config, steps, name=f"small {family}")


def write_fixture_talk(folder: Path, store) -> Path:
    """A five-scene talk in `folder`: two replays of small pairs recorded into `store`, a missing run, then a
    small sweep and the CNN pair's lesion study, both recorded into `store`."""
    from resnet.talk_analyses import record_analysis
    from resnet.talk_sweeps import record_sweep
    from resnet.talks import load_talk

    keys = []
    for family in ("mlp", "cnn"):
        _, residual = record_small_pair(store, family=family, steps=12)
        keys.append(store.run(residual).pair)
    path = folder / "fixture.toml"
    path.write_text(f"""title = "Fixture"
[[scenes]]
title = "First replay"
caption = "A small MLP pair, recorded."
pair = "{keys[0]}"
[[scenes]]
title = "Second replay"
caption = "A small CNN pair, recorded."
pair = "{keys[1]}"
[[scenes]]
title = "Gone"
caption = "A run nobody recorded."
run = "no-such-key"
[[scenes]]
title = "Recorded sweep"
caption = "Plain and residual nets of 8 layers, swept."
[scenes.sweep]
depths = [8]
width = 4
steps = 12
[[scenes]]
title = "Recorded lesion study"
caption = "The small CNN pair with blocks deleted."
[scenes.analysis]
kind = "lesion"
pair = "{keys[1]}"
draws = 2
""")
    scenes = load_talk(path).scenes  # the sweep and the lesion study, recorded as `talk record` records them
    record_sweep(store, scenes[3].sweep, device="cpu", jobs=1)
    record_analysis(store, scenes[4].analysis, device="cpu")
    return path


def slow_steps(steps: int, seconds: float, progress=None) -> int:
    """Work of `steps` steps of `seconds` each that reports progress after each (a job that can be stopped)."""
    for k in range(steps):
        time.sleep(seconds)
        if progress is not None:
            progress((k + 1) / steps, f"step {k + 1} of {steps}")
    return steps


def pid_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
