"""The gradient-flow page under Streamlit's AppTest: widgets, URL state, a few live steps, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from resnet.store import RunStore

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TINY = {"preset": "custom", "family": "mlp", "depth": "4", "width": "8", "act": "tanh", "norm": "none",
        "dataset": "spirals", "lr": "0.01", "batch": "32", "steps": "30"}


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=60)
    yield at
    if "gf_job" in at.session_state and at.session_state["gf_job"] is not None:  # end its worker with the test
        job = at.session_state["gf_job"]
        job.stop()
        assert job.join(10)


def open_page(at: AppTest, query: dict[str, str]) -> AppTest:
    """Run the app once with `query` as the URL's parameters."""
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def button(at: AppTest, label: str):
    """The button labelled `label`."""
    return next(b for b in at.button if b.label == label)


def run_until(at: AppTest, predicate, timeout: float = 60.0) -> AppTest:
    """Rerun the page (as the fragment's timer would) until `predicate(at)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if predicate(at):
            return at
        time.sleep(0.1)
    raise AssertionError("page never reached the expected state")


def progress_text(at: AppTest) -> str:
    """The progress bar's text."""
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def test_default_page_shows_presets_controls_and_a_prompt(app) -> None:
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "Gradient flow: plain vs residual"
    assert [b.label for b in at.button][:4] == ["Train", "Pause", "Step", "Reset"]
    assert at.session_state["gf_preset"] == "vanishing"
    assert at.query_params["preset"] == "vanishing" and at.query_params["depth"] == "50"
    assert any("Press Train" in i.value for i in at.info)


def test_train_draws_all_views_and_finishes(app) -> None:
    at = open_page(app, TINY)
    button(at, "Train").click().run()
    at = run_until(at, lambda a: "finished" in progress_text(a))
    assert "step 30 of 30" in progress_text(at)
    assert len(at.get("plotly_chart")) == 5
    labels = [m.label for m in at.metric]
    assert "Plain: first/last block gradient" in labels and "Residual: training error (last 20 steps)" in labels
    assert at.session_state["gf_live"] is False  # polling stops once training stops


def test_step_button_advances_one_step(app) -> None:
    at = open_page(app, TINY)
    button(at, "Step").click().run()
    at = run_until(at, lambda a: "step 1 of 30" in progress_text(a) and "paused" in progress_text(a))
    assert len(at.get("plotly_chart")) == 5


def test_trained_twins_are_kept_in_the_run_store(app) -> None:
    at = open_page(app, TINY)
    button(at, "Step").click().run()
    at = run_until(at, lambda a: "step 1 of 30" in progress_text(a) and "paused" in progress_text(a))
    runs = {r.id: r for r in RunStore().runs()}  # the test's own store ($GFL_STORE)
    ids = at.session_state["gf_job"].run_ids
    assert {runs[i].name for i in ids.values()} == {"plain-4", "res-4"}
    assert all(runs[i].steps == 1 for i in ids.values())
    assert any(f"run {ids['plain']} (plain)" in c.value for c in at.caption)


def test_an_unusable_store_is_a_warning_and_training_goes_on(app, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GFL_STORE", str(tmp_path))  # a folder, not a file
    at = open_page(app, TINY)
    button(at, "Step").click().run()
    at = run_until(at, lambda a: "step 1 of 30" in progress_text(a) and "paused" in progress_text(a))
    assert any("not recorded in the run store" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 5


def test_shortcut_pills_switch_blocks_of_the_residual_twin(app) -> None:
    at = open_page(app, TINY)
    button(at, "Step").click().run()
    run_until(at, lambda a: "step 1 of 30" in progress_text(a))
    at.pills(key="gf_on_1").unselect(1).run()  # a click on block 1's pill cuts its shortcut
    job = at.session_state["gf_job"]
    at = run_until(at, lambda a: job.view().nets["residual"].shortcuts == [True, False, True, True])
    button(at, "All off").click().run()
    run_until(at, lambda a: job.view().nets["residual"].shortcuts == [False] * 4)
    assert at.pills(key="gf_on_2").value == []  # the pills are drawn afresh from the job's switches
    at.pills(key="gf_on_2").select(2).run()  # a click applies only the pill it changed
    run_until(at, lambda a: job.view().nets["residual"].shortcuts == [False, False, True, False])


def test_choosing_a_preset_loads_its_settings_and_link(app) -> None:
    at = app.run()
    at.segmented_control(key="gf_preset").set_value("bn-explodes").run()
    assert not at.exception
    assert at.session_state["gf_family"] == "cnn" and at.session_state["gf_depth"] == 56
    assert at.query_params["preset"] == "bn-explodes" and at.query_params["family"] == "cnn"


def test_editing_a_knob_switches_to_custom(app) -> None:
    at = app.run()
    at.number_input(key="gf_depth").set_value(10).run()
    assert at.session_state["gf_preset"] == "custom"
    assert at.query_params["depth"] == "10" and at.query_params["preset"] == "custom"


def test_invalid_depth_is_explained_and_the_page_keeps_working(app) -> None:
    at = open_page(app, {**TINY, "family": "cnn", "dataset": "digits", "depth": "20"})
    at.number_input(key="gf_depth").set_value(21).run()
    assert not at.exception
    assert any("depth 21 is not 6n+2" in e.value and "20 or 26" in e.value for e in at.error)
    at.number_input(key="gf_depth").set_value(20).run()
    assert not at.error and not at.exception


def test_cnn_on_point_data_is_refused_with_a_message(app) -> None:
    at = open_page(app, {**TINY, "depth": "8"})
    at.selectbox(key="gf_family").set_value("cnn").run()  # spirals are not images
    assert any("needs an image data set" in e.value and "digits" in e.value for e in at.error)
    assert not at.exception


def test_bad_link_values_warn_and_fall_back(app) -> None:
    at = open_page(app, {"preset": "nope", "lr": "fast"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "unknown preset 'nope'" in warnings and "lr='fast'" in warnings
    assert at.session_state["gf_preset"] == "vanishing"


def test_a_killed_worker_is_a_one_line_failure_and_the_page_keeps_working(app) -> None:
    import os
    import signal

    at = open_page(app, {**TINY, "steps": "100000"})
    button(at, "Train").click().run()
    job = at.session_state["gf_job"]
    at = run_until(at, lambda a: job.view().step > 5)
    os.kill(job.pid, signal.SIGKILL)
    at = run_until(at, lambda a: any("SIGKILL" in e.value for e in a.error), timeout=20)
    assert "step" in progress_text(at) and "failed" in progress_text(at)
    assert len(at.get("plotly_chart")) == 5  # what it recorded stays on screen
    button(at, "Reset").click().run()
    assert not at.exception and at.session_state["gf_job"] is not job


def test_a_full_line_is_a_message(app, monkeypatch) -> None:
    from resnet.jobs import JobServer, server

    busy = JobServer(cap=1, limit=0)
    monkeypatch.setattr(server, "_SERVER", busy)
    try:
        blocker = busy.call("tests.helpers:slow_steps", steps=600, seconds=0.1)  # stoppable
        at = open_page(app, TINY)
        button(at, "Train").click().run()
        assert not at.exception
        assert any("line is full" in w.value for w in at.warning)
        blocker.stop()
    finally:
        busy.shutdown()


def record_pair(steps: int = 12) -> dict[str, int]:
    """Train a tiny pair through a job into the test's store; returns its run ids by role."""
    from resnet.jobs import JobServer
    from resnet.query import setup_from_query
    from resnet.store import default_store_path
    from tests.helpers import wait_for

    config = setup_from_query(TINY).config
    s = JobServer(cap=1)
    try:
        job = s.twins(config, steps, store=default_store_path())
        job.set_shortcut(1, False)
        job.train()
        assert wait_for(lambda: job.state == "finished", 60)
        return dict(job.run_ids)
    finally:
        s.shutdown()


def test_a_stored_pair_replays_with_the_live_figures_and_no_job(app) -> None:
    ids = record_pair()
    at = open_page(app, {"run": str(ids["residual"]), "step": "5"})
    assert not at.exception
    assert "gf_job" not in at.session_state  # nothing trains
    assert len(at.get("plotly_chart")) == 5
    assert "step 5 of 12" in progress_text(at) and at.session_state["gf_cursor"] == 5
    assert any(f"run {ids['plain']} (plain-4)" in c.value for c in at.caption)
    button(at, "Play").click().run()
    at.run()
    assert at.session_state["gf_cursor"] > 5
    at.slider(key="gf_cursor").set_value(12).run()
    assert "step 12 of 12" in progress_text(at)


def test_replaying_a_missing_run_is_a_message(app) -> None:
    at = open_page(app, {"run": "999"})
    assert not at.exception
    assert any("Cannot replay run '999'" in e.value and "no run 999" in e.value for e in at.error)
