"""The Degradation and Runs pages: AppTest on the scripts, and one browser test through the app's router."""

from __future__ import annotations

import os
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from figure_export import static_images_unavailable
from resnet.recording import record
from resnet.store import RunRecorder, RunStore
from resnet.sweeps.jobs import sweep_job
from resnet.sweeps.sequential import run_sweep
from resnet.trainer import TrainConfig, Trainer
from tests.helpers import assert_no_exception, screenshot, wait_for, wait_idle

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
DEGRADATION = "pages/degradation.py"
RUNS = "pages/runs.py"
SMALL = TrainConfig(test_every=5).replace(width=2)


def page(path: str) -> AppTest:
    """The app, routed to one page (as a visitor who opened it)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fill_sweep(at: AppTest, *, steps: int, seeds: int = 1) -> AppTest:
    """Set the Degradation form to one plain net at depth 20, width 4, and press Train."""
    at.multiselect(key="deg_depths").set_value([20])
    at.multiselect(key="deg_nets").set_value(["Plain"])
    at.number_input(key="deg_steps").set_value(steps)
    at.select_slider(key="deg_width").set_value(4)
    at.number_input(key="deg_seeds").set_value(seeds)
    return at.button(key="deg_train").click().run()


def texts(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_degradation_page_starts_empty_with_the_form() -> None:
    at = page(DEGRADATION)
    assert "No sweep in the store yet" in at.info[0].value
    assert at.multiselect(key="deg_depths").value == [20, 56] and at.multiselect(key="deg_nets").value == [
        "Plain", "Residual"]
    assert at.selectbox(key="deg_dataset").value == "digits"
    assert "CIFAR-10 appears here once a local copy" in " ".join(c.value for c in at.caption)


def test_a_sweep_with_no_depth_is_refused_with_a_message() -> None:
    at = page(DEGRADATION)
    at.multiselect(key="deg_depths").set_value([])
    at.button(key="deg_train").click().run()
    assert not at.exception
    assert "choose at least one depth" in at.warning[0].value
    assert "deg_started" not in at.session_state


def test_train_runs_the_sweep_in_worker_processes_and_draws_it() -> None:
    at = page(DEGRADATION)
    fill_sweep(at, steps=10)
    assert not at.exception and not at.warning
    job = sweep_job(at.session_state["deg_started"])
    assert wait_for(lambda: not job.alive, 300)
    assert job.state == "finished", job.error
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # Fig. 1/6 curves, error against depth, Fig. 7
    (run,) = RunStore().runs(sweep=job.tag)
    assert (run.label, run.steps, run.status, run.config.model.width) == ("plain-20", 10, "finished", 4)
    assert run.pid != os.getpid()  # trained in a worker, not in the server
    assert RunStore().responses(run.id) is not None
    assert "dL/dx at the first block" in texts(at)


def test_a_sweep_outlives_its_tab_and_another_session_finds_and_stops_it() -> None:
    first = page(DEGRADATION)
    fill_sweep(first, steps=20_000)
    job = sweep_job(first.session_state["deg_started"])
    del first  # the tab is closed: nobody beats for the sweep
    assert wait_for(lambda: job.runs()[0].step >= 2, 120)
    again = page(DEGRADATION)  # a new session opens the page
    assert again.selectbox(key="deg_sweep").value == job.tag
    assert "whether or not this tab stays open" in " ".join(c.value for c in again.caption)
    again.button(key="deg_stop").click().run()
    assert not again.exception
    assert wait_for(lambda: not job.alive, 120) and job.state == "stopped"
    (run,) = RunStore().runs(sweep=job.tag)
    assert run.status == "stopped" and 2 <= run.steps < 20_000


def test_seeds_train_one_run_each_and_the_table_shows_them() -> None:
    at = page(DEGRADATION)
    fill_sweep(at, steps=10, seeds=2)
    job = sweep_job(at.session_state["deg_started"])
    assert wait_for(lambda: not job.alive, 300) and job.state == "finished", job.error
    at.run()
    runs = RunStore().runs(sweep=job.tag)
    assert sorted(r.config.seed for r in runs) == [0, 1] and {r.status for r in runs} == {"finished"}
    assert sorted(at.dataframe[0].value["seed"]) == [0, 1]


def test_an_unreachable_ray_cluster_is_one_line_that_suggests_the_local_backend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GFL_RAY_ADDRESS", "127.0.0.1:9")  # nothing listens on the discard port
    at = page(DEGRADATION)
    at.toggle(key="deg_ray").set_value(True)
    at.multiselect(key="deg_depths").set_value([20])
    at.number_input(key="deg_steps").set_value(10)
    at.button(key="deg_train").click().run()
    job = sweep_job(at.session_state["deg_started"])
    assert type(job).__name__ == "RaySweepJob" and job.address == "127.0.0.1:9"
    assert wait_for(lambda: not job.alive, 60) and job.state == "failed"
    at.run()
    (error,) = [e.value for e in at.error]
    assert "127.0.0.1:9" in error and "--backend local" in error and "\n" not in job.error
    assert RunStore().runs(sweep=job.tag) == []


def test_a_recorded_sweep_reappears_from_the_store() -> None:
    rows = run_sweep(RunStore(), SMALL, [8, 14], steps=12)
    at = page(DEGRADATION)
    assert at.selectbox(key="deg_sweep").value == RunStore().runs()[0].sweep
    assert len(at.get("plotly_chart")) == 3
    table = at.dataframe[0].value
    assert set(table["run"]) == {r.run_id for r in rows} and set(table["status"]) == {"finished"}
    text = texts(at)
    assert "plain-14 ends at" in text and "ResNet-14 ends at" in text and "At depth 14" in text


def test_a_corrupt_store_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"junk" * 500)
    monkeypatch.setenv("GFL_STORE", str(bad))
    for path in (DEGRADATION, RUNS):
        at = page(path)
        assert "not a valid run store" in at.error[0].value


def test_runs_page_lists_a_broken_run_apart_and_deletes_it() -> None:
    plain, res = recorded_runs()
    with sqlite3.connect(RunStore().path) as con:
        con.execute("UPDATE runs SET config = json_set(config, '$.model.depth', 'deep') WHERE id = ?", (plain,))
    at = page(RUNS)
    assert not at.exception and at.selectbox(key="runs_run").value == res  # the good run still draws
    assert len(at.get("plotly_chart")) == 3
    (warning,) = [w.value for w in at.warning if f"Run #{plain}" in w.value]
    assert "has a config this version cannot read" in warning
    at.button(key=f"runs_delete_broken_{plain}").click().run()
    assert not at.exception and RunStore().broken() == [] and [r.id for r in RunStore().runs()] == [res]


def test_runs_page_empty_store() -> None:
    at = page(RUNS)
    assert "No runs yet" in at.info[0].value


def recorded_runs() -> list[int]:
    store = RunStore()
    ids = []
    for residual in (False, True):
        trainer = Trainer(SMALL.replace(depth=8, residual=residual), total_steps=12)
        ids.append(record(store, trainer, flush_every=4))
        trainer.close()
    return ids


def test_runs_page_draws_replays_and_compares_with_no_training() -> None:
    plain, res = recorded_runs()
    at = page(RUNS)
    assert at.selectbox(key="runs_run").value == res  # the newest run opens by default
    assert len(at.get("plotly_chart")) == 3  # curves, heatmap, block profile
    assert at.slider(key=f"runs_step_{res}_None").value == 12
    buttons = {b.label: b for b in at.get("download_button")}
    assert list(buttons)[:4] == ["CSV tables (.zip)", "Parquet tables (.zip)", "HTML report", "Run file"]
    slides = ["Heatmap animation (.html)", "Heatmap GIF", "PNG figures (.zip)", "SVG figures (.zip)"]
    assert list(buttons)[4:] == slides and not buttons[slides[0]].disabled
    no_chromium = static_images_unavailable()  # Chromium draws the static ones: a machine may lack it
    assert all(buttons[label].disabled == bool(no_chromium) for label in slides[1:])
    at.slider(key=f"runs_step_{res}_None").set_value(5).run()
    assert not at.exception
    at.selectbox(key="runs_other").set_value(plain).run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    at.selectbox(key="runs_quantity").set_value("input_grad_norm").run()
    assert not at.exception
    play = next(b for b in at.button if "Play" in b.label)
    play.click().run()
    assert not at.exception
    assert at.session_state[f"runs_play_{res}_{plain}"] is True
    # Play from the end restarts at iteration 1, and the playing rerun has drawn the next frame.
    assert at.slider(key=f"runs_step_{res}_{plain}").value == 2
    pause = next(b for b in at.button if "Pause" in b.label)
    pause.click().run()
    assert at.session_state[f"runs_play_{res}_{plain}"] is False


def test_runs_page_deletes_a_run_but_not_one_still_recording() -> None:
    plain, res = recorded_runs()
    at = page(RUNS)
    at.button(key="runs_delete").click().run()
    assert not at.exception
    assert f"Deleted run #{res}" in at.success[0].value
    assert [r.id for r in RunStore().runs()] == [plain]
    assert at.selectbox(key="runs_run").value == plain
    trainer = Trainer(SMALL.replace(depth=8), total_steps=12)
    live = RunRecorder(RunStore(), trainer).run_id  # recorded by this very process
    at.run()
    at.selectbox(key="runs_run").set_value(live).run()
    at.button(key="runs_delete").click().run()
    assert "still being recorded" in at.error[0].value
    assert sorted(r.id for r in RunStore().runs()) == [plain, live]
    trainer.close()


@pytest.mark.browser
def test_degradation_and_runs_in_the_browser(page) -> None:
    page.goto(f"{page.app_url}/degradation")
    wait_idle(page)
    page.get_by_text("Degradation: deeper plain nets train worse").wait_for(timeout=60_000)
    depths = page.locator('[data-testid="stMultiSelect"]').nth(0)
    depths.get_by_role("button", name="Remove 56").click()  # keep depth 20 only
    nets = page.locator('[data-testid="stMultiSelect"]').nth(1)
    nets.get_by_role("button", name="Remove Residual").click()
    steps = page.get_by_role("spinbutton", name="Steps")
    steps.fill("10")
    steps.press("Enter")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Error during training").first.wait_for(timeout=240_000)
    page.get_by_text("Layer responses").first.wait_for(timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)
    screenshot(page, "degradation")
    page.goto(f"{page.app_url}/runs")
    wait_idle(page)
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(timeout=60_000)
    assert_no_exception(page)
    page.get_by_role("button", name="Play").click()
    wait_idle(page)
    assert_no_exception(page)
    assert screenshot(page, "runs").exists()
    # Figures for slides, drawn on click: the animation in the server, PNGs by its Chromium through kaleido.
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Heatmap animation (.html)").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Plotly.addFrames" in html and not re.search(r"<script[^>]+src=", html)
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="PNG figures (.zip)").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        pngs = {name: archive.read(name) for name in archive.namelist()}
    assert len(pngs) == 5 and all(data[:8] == b"\x89PNG\r\n\x1a\n" for data in pngs.values())
    assert_no_exception(page)


def test_without_chromium_the_static_figures_say_why_and_the_animation_stays(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    recorded_runs()
    for name in ("BROWSER_PATH", "GFL_CHROMIUM"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setattr("figure_export.CHROMIUM_CANDIDATES", ())
    at = page(RUNS)
    buttons = {b.label: b for b in at.get("download_button")}
    assert not at.exception and not buttons["Heatmap animation (.html)"].disabled
    for label in ("Heatmap GIF", "PNG figures (.zip)", "SVG figures (.zip)"):
        assert buttons[label].disabled and "no Chromium found" in buttons[label].help


def test_a_live_run_is_reread_and_the_slider_follows_its_end() -> None:
    store = RunStore()
    trainer = Trainer(SMALL.replace(depth=8), total_steps=40)
    recorder = RunRecorder(store, trainer, flush_every=1)
    for _ in range(5):
        trainer.step()
        recorder.update(trainer)
    at = page(RUNS)
    key = f"runs_step_{recorder.run_id}_None"
    assert at.slider(key=key).value == 5 and RunStore().run(recorder.run_id).status == "running"
    for _ in range(4):
        trainer.step()
        recorder.update(trainer)
    at.run()
    assert not at.exception and at.slider(key=key).value == 9
    recorder.finish(trainer)
    trainer.close()


def test_runs_page_read_only_disables_delete_and_import_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, res = recorded_runs()
    monkeypatch.setenv("GFL_READ_ONLY", "1")
    at = page(RUNS)
    reasons = [i.value for i in at.info]
    for act in ("import", "delete"):
        assert f"Cannot {act} runs: this lab is read-only (GFL_READ_ONLY=1 on its server)." in reasons
    assert at.button(key="runs_delete").disabled  # AppTest, like a browser, cannot click it
    assert not at.exception and sorted(r.id for r in RunStore().runs()) == [plain, res]
