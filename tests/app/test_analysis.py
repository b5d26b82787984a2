"""The four analysis pages in AppTest: Run submits a job to worker processes, the page polls it, draws its result.

The pages analyse small pairs recorded in a run store of the test's own ("Two runs from the run
store"), so no preset is trained here; a preset's pair is trained in its worker once and kept in
the store (tests/resnet/analysis/test_jobs.py), and the browser test runs each page's default.
AppTest fires no `run_every` timer, so a test polls a job by rerunning the page, with a deadline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import ROUTED
from resnet.jobs import JobServer
from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig, Trainer
from tests.helpers import pid_running, record_small_pair

PAGES = Path(__file__).resolve().parents[2] / "pages"
JOB_S = 180  # the longest a test waits for one analysis job (two tiny nets, on a shared 2-core machine)


@pytest.fixture(scope="module")
def server():
    """The pages' job server for this module (one slot); its workers must be gone after it shuts down."""
    s = JobServer(cap=1, limit=4, leave_line_after=1.0)
    s.submitted = []  # every job the pages submitted, in order
    call = s.call

    def recording_call(*args, **kwargs):
        s.submitted.append(call(*args, **kwargs))
        return s.submitted[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(s, "call", recording_call)
        mp.setattr("pages.analysis_common.job_server", lambda: s)
        yield s
    s.shutdown()
    assert not s.jobs()
    pids = [j.pid for j in s.submitted if j.pid]
    assert not [pid for pid in pids if pid_running(pid)], "a worker outlived the job server's shutdown"


def recorded(store: RunStore, depth: int, residual: bool, steps: int = 3) -> int:
    """A short MLP run recorded into `store` (final weights kept when it ran at least one step)."""
    config = TrainConfig(model=ModelSpec(family="mlp", depth=depth, width=8, residual=residual, norm="batch",
                                         act="relu"), dataset="spirals", device="cpu")
    trainer = Trainer(config, total_steps=steps)
    return record(store, trainer, should_stop=(lambda: True) if steps == 1 else None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, int]]:
    """A small CNN pair on digits, a small MLP pair on spirals, a deeper MLP and a run without weights."""
    store = RunStore(tmp_path_factory.mktemp("pairs") / "runs.db")
    (cnn_plain, cnn_residual), (mlp_plain, mlp_residual) = record_small_pair(store), record_small_pair(
        store, family="mlp", steps=20)
    ids = {"cnn plain": cnn_plain, "cnn residual": cnn_residual, "plain": mlp_plain, "residual": mlp_residual,
           "deeper": recorded(store, 6, True), "no weights": recorded(store, 4, True, steps=1)}
    return store, ids


def run(at: AppTest) -> AppTest:
    """Rerun the page as the router would have let it run."""
    at.session_state[ROUTED] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(name: str) -> AppTest:
    return run(AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60))


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return run(at)


def polling(at: AppTest) -> bool:
    """Whether the page shows a job in progress (its bar and its Cancel button)."""
    return any(b.label == "Cancel" for b in at.button)


def finish(at: AppTest, timeout: float = JOB_S) -> AppTest:
    """Rerun the page (as its fragment's timer would) until its job has ended."""
    deadline = time.monotonic() + timeout
    while polling(at):
        assert time.monotonic() < deadline, f"the job did not end within {timeout} s"
        time.sleep(0.3)
        run(at)
    return at


def click_run(at: AppTest) -> AppTest:
    return finish(click(at, "Run"))


def labelled(widgets, label: str):
    """The widget whose label starts with `label`."""
    return next(w for w in widgets if w.label.startswith(label))


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def open_with_stored_pair(page: str, runs: RunStore, residual_id: int, monkeypatch, plain_id: int | None = None
                          ) -> AppTest:
    """Open `page` on `runs`, choose two runs from the store with `residual_id` as the residual one."""
    monkeypatch.setenv("GFL_STORE", str(runs.path))
    at = open_page(page)
    at.radio[0].set_value("Two runs from the run store")
    run(at)
    if plain_id is not None:
        labelled(at.selectbox, "Plain run").set_value(runs.run(plain_id))
        run(at)
    labelled(at.selectbox, "Residual run").set_value(runs.run(residual_id))
    return run(at)


def open_cnn_pair(page: str, store, monkeypatch) -> AppTest:
    runs, ids = store
    return open_with_stored_pair(page, runs, ids["cnn residual"], monkeypatch, plain_id=ids["cnn plain"])


@pytest.mark.parametrize(("page", "charts", "sentence"), [
    ("lesion", 2, "Deleting one block leaves the residual net"),
    ("landscape", 3, "Local minima on the grid"),
    ("attributions", 2, "Integrated gradients add up"),
])
def test_each_pair_page_runs_in_a_worker_and_draws(server, store, monkeypatch, page: str, charts: int,
                                                     sentence: str) -> None:
    at = open_cnn_pair(page, store, monkeypatch)
    assert at.info and "Press **Run**" in at.info[0].value
    assert not at.get("plotly_chart")
    submitted = len(server.submitted)
    click(at, "Run")
    assert len(server.submitted) == submitted + 1
    job = server.submitted[-1]
    assert polling(at) and at.get("progress") and not at.get("plotly_chart")
    finish(at)
    assert job.state == "done", job.message
    assert job.pid not in (None, os.getpid())  # computed in a worker process, not in the page's
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == charts
    assert sentence in texts(at)
    runs, ids = store
    assert any(f"runs {ids['cnn plain']} (small cnn) and {ids['cnn residual']}" in c.value for c in at.caption)


def test_a_second_run_reads_the_cache(server, store, monkeypatch: pytest.MonkeyPatch) -> None:
    at = click_run(open_cnn_pair("lesion", store, monkeypatch))
    first = texts(at)
    assert "Deleting one block" in first
    submitted = len(server.submitted)
    at = click(open_cnn_pair("lesion", store, monkeypatch), "Run")  # a new session: drawn at once, no job
    assert not polling(at) and not at.error and texts(at) == first
    assert len(server.submitted) == submitted


def test_a_queued_job_shows_its_place_and_cancel_takes_it_out_of_the_line(server, store, monkeypatch) -> None:
    runs, ids = store
    # An 8-s wait holds the one slot (submitted past the pages' record of jobs).
    blocker = JobServer.call(server, "multiprocessing.connection:wait", object_list=[], timeout=8)
    try:
        at = open_cnn_pair("lesion", store, monkeypatch)
        labelled(at.number_input, "Random draws").set_value(3)  # a result no other test has cached
        job_count = len(server.submitted)
        click(at, "Run")
        assert len(server.submitted) == job_count + 1
        job = server.submitted[-1]
        assert job.state == "queued" and job.place == 1
        assert polling(at) and "place 1 of 1" in progress_text(at)
        click(at, "Cancel")
        assert job.state == "cancelled" and job.pid is None and server.waiting == 0
        assert not polling(at) and "cancelled" in at.info[0].value and not at.get("plotly_chart")
    finally:
        assert blocker.join(30) and blocker.state == "done", blocker.message


def progress_text(at: AppTest) -> str:
    """The text of the page's progress bar."""
    return " ".join(p.proto.text for p in at.get("progress"))


def test_the_shattered_page_runs_and_switches_to_the_trained_gradients(server) -> None:
    from resnet.analysis.records import STUDY_KEY, shattered_params

    at = open_page("shattered")
    at.multiselect[0].set_value([2, 5])
    labelled(at.number_input, "Width").set_value(16)
    labelled(at.number_input, "Draws").set_value(1)
    labelled(at.number_input, "Training steps").set_value(10)
    click_run(at)
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 3
    kept = RunStore(os.environ["GFL_STORE"]).analysis(STUDY_KEY, "shattered", shattered_params([2, 5], 16, "batch",
                                                                                               256, 1, 10))
    assert kept is not None and kept.depths == [2, 5]  # the store keeps it, so a talk replays it
    assert "At initialisation, depth 5" in texts(at) and "After training" in texts(at)
    labelled(at.radio, "Gradients").set_value("trained")
    run(at)
    assert len(at.get("plotly_chart")) == 3


@pytest.mark.parametrize(("page", "label", "value", "message"), [
    ("lesion", "Random draws", 500, "random draws must be between 1 and 100"),
    ("landscape", "Grid points", 1001, "grid points per axis must be between 5 and 51"),
    ("landscape", "Training samples", 10, "samples must be between 32 and 2048"),
    ("attributions", "Integration steps", 999, "integration steps must be between 4 and 256"),
    ("shattered", "Points on the segment", 8, "points on the segment must be between 16 and 4096"),
])
def test_values_beyond_the_bounds_give_a_message_and_the_page_keeps_working(page, label, value, message) -> None:
    at = open_page(page)
    labelled(at.number_input, label).set_value(value)
    click_run(at)
    assert [e.value for e in at.error] == [message + f", got {value}"]
    assert at.title[0].value and any(b.label == "Run" for b in at.button)
    assert not at.get("plotly_chart")


def test_unreadable_test_image_indices_give_a_message() -> None:
    at = open_page("attributions")
    labelled(at.text_input, "Test images").set_value("1, two")
    click_run(at)
    assert "whole numbers separated by commas" in at.error[0].value


# ---- pairs from the run store -------------------------------------------------------------

def test_the_page_shows_a_store_without_a_usable_pair_as_a_message(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GFL_STORE", str(tmp_path / "empty.db"))
    at = open_page("lesion")
    at.radio[0].set_value("Two runs from the run store")
    run(at)
    assert "has no finished plain and residual runs yet" in at.info[0].value
    assert next(b for b in at.button if b.label == "Run").disabled


def test_the_page_names_the_problem_with_a_stored_pair(server, monkeypatch, store) -> None:
    runs, ids = store
    at = open_with_stored_pair("lesion", runs, ids["deeper"], monkeypatch, plain_id=ids["plain"])
    click_run(at)
    assert server.submitted[-1].state == "failed"
    assert len(at.error) == 1 and "not twins: they differ in depth (4 vs 6)" in at.error[0].value
    labelled(at.selectbox, "Residual run").set_value(runs.run(ids["residual"]))
    click_run(at)
    assert not at.error and len(at.get("plotly_chart")) == 2


def test_attributions_of_a_pair_without_images_keep_the_block_shares(server, monkeypatch, store) -> None:
    runs, ids = store  # MLP twins on 2-D spirals, as the Gradient flow page records them
    at = open_with_stored_pair("attributions", runs, ids["residual"], monkeypatch, plain_id=ids["plain"])
    click_run(at)
    assert not at.error
    assert len(at.get("plotly_chart")) == 1  # the block shares; no maps
    assert "spirals data set has none" in at.info[0].value
