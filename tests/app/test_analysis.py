"""The four analysis pages: AppTest on each page script, pairs from the run store, and a browser run.

AppTest runs share one process with the engine tests, so they analyse a small pair put in the
pages' pair cache under the default preset's key (the page code path is the same; only the
training is skipped). The browser test drives a real server through each page's default, training
the default preset there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages.analysis_common import DEFAULT_PRESET, PairChoice, _pair
from pages.common import ROUTED
from resnet.analysis.pairs import Pair, pair_from_store, stored_candidates, train_twin_pair
from resnet.recording import record
from resnet.store import RunStore, StoreError
from resnet.trainer import ModelSpec, TrainConfig, Trainer
from tests.helpers import assert_no_exception, screenshot, wait_idle

PAGES = Path(__file__).resolve().parents[2] / "pages"
SMALL = TrainConfig(model=ModelSpec(family="cnn", depth=8, width=4), dataset="digits", device="cpu")


@pytest.fixture(scope="module")
def small_pair() -> Pair:
    """A small trained pair, cached where the pages look for the default preset's pair."""
    pair = train_twin_pair(SMALL, 30)
    _pair(PairChoice(DEFAULT_PRESET, None, None, None, "auto", 0).key, pair)
    return pair


def run(at: AppTest) -> AppTest:
    """Rerun the page as the router would have let it run."""
    at.session_state[ROUTED] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(name: str) -> AppTest:
    return run(AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=300))


def click_run(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Run").click()
    return run(at)


def labelled(widgets, label: str):
    """The widget whose label starts with `label`."""
    return next(w for w in widgets if w.label.startswith(label))


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.mark.parametrize(("page", "charts", "sentence"), [
    ("lesion", 2, "Deleting one block leaves the residual net"),
    ("landscape", 3, "Local minima on the grid"),
    ("attributions", 2, "Integrated gradients add up"),
])
def test_each_pair_page_runs_its_default_and_draws(small_pair: Pair, page: str, charts: int, sentence: str) -> None:
    at = open_page(page)
    assert at.info and "Press **Run**" in at.info[0].value
    assert not at.get("plotly_chart")
    click_run(at)
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == charts
    assert sentence in texts(at)
    assert any(small_pair.source in c.value for c in at.caption)


def test_a_second_run_reads_the_cache(small_pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    at = click_run(open_page("lesion"))
    first = texts(at)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the lesion study ran again instead of coming from the cache")

    monkeypatch.setattr("resnet.analysis.lesion.lesion_study", must_not_run)
    at = click_run(open_page("lesion"))
    assert not at.error and texts(at) == first


def test_the_shattered_page_runs_and_switches_to_the_trained_gradients() -> None:
    at = open_page("shattered")
    at.multiselect[0].set_value([2, 5])
    labelled(at.number_input, "Width").set_value(16)
    labelled(at.number_input, "Draws").set_value(1)
    labelled(at.number_input, "Training steps").set_value(10)
    click_run(at)
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 3
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

def recorded(store: RunStore, depth: int, residual: bool, steps: int = 3) -> int:
    """A short MLP run recorded into `store` (final weights kept when it ran at least one step)."""
    config = TrainConfig(model=ModelSpec(family="mlp", depth=depth, width=8, residual=residual, norm="batch",
                                         act="relu"), dataset="spirals", device="cpu")
    trainer = Trainer(config, total_steps=steps)
    return record(store, trainer, should_stop=(lambda: True) if steps == 1 else None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, int]]:
    store = RunStore(tmp_path_factory.mktemp("pairs") / "runs.db")
    ids = {"plain": recorded(store, 4, False), "residual": recorded(store, 4, True),
           "deeper": recorded(store, 6, True), "no weights": recorded(store, 4, True, steps=1)}
    return store, ids


def test_two_stored_twins_load_as_a_frozen_pair(store) -> None:
    runs, ids = store
    pair = pair_from_store(runs, ids["plain"], ids["residual"], device="cpu")
    assert not pair.plain.residual and pair.residual.residual and not pair.plain.training
    assert not any(p.requires_grad for p in pair.residual.parameters())
    assert torch.equal(pair.residual.state_dict()["blocks.0.fc.weight"],
                       runs.state_dict(ids["residual"])["blocks.0.fc.weight"])
    plain_runs, residual_runs = stored_candidates(runs)
    assert [r.id for r in plain_runs] == [ids["plain"]]
    assert ids["no weights"] not in [r.id for r in residual_runs]  # stopped before a step: nothing kept


def test_stored_runs_that_are_not_twins_or_have_no_weights_say_so(store) -> None:
    runs, ids = store
    with pytest.raises(ValueError, match=r"not twins: they differ in depth \(4 vs 6\)"):
        pair_from_store(runs, ids["plain"], ids["deeper"], device="cpu")
    with pytest.raises(StoreError, match="has no stored weights"):
        pair_from_store(runs, ids["plain"], ids["no weights"], device="cpu")
    with pytest.raises(ValueError, match="has shortcuts; choose a plain run"):
        pair_from_store(runs, ids["residual"], ids["residual"], device="cpu")


def test_the_page_shows_a_store_without_a_usable_pair_as_a_message(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GFL_STORE", str(tmp_path / "empty.db"))
    at = open_page("lesion")
    at.radio[0].set_value("Two runs from the run store")
    run(at)
    assert "has no finished plain and residual runs yet" in at.info[0].value
    assert next(b for b in at.button if b.label == "Run").disabled


def open_with_stored_pair(page: str, runs: RunStore, residual_id: int, monkeypatch) -> AppTest:
    """Open `page` on `runs`, choose two runs from the store with `residual_id` as the residual one."""
    monkeypatch.setenv("GFL_STORE", str(runs.path))
    at = open_page(page)
    at.radio[0].set_value("Two runs from the run store")
    run(at)
    labelled(at.selectbox, "Residual run").set_value(runs.run(residual_id))
    return at


def test_the_page_names_the_problem_with_a_stored_pair(monkeypatch, store) -> None:
    runs, ids = store
    at = open_with_stored_pair("lesion", runs, ids["deeper"], monkeypatch)
    click_run(at)
    assert "not twins" in at.error[0].value
    labelled(at.selectbox, "Residual run").set_value(runs.run(ids["residual"]))
    click_run(at)
    assert not at.error and len(at.get("plotly_chart")) == 2


def test_attributions_of_a_pair_without_images_keep_the_block_shares(monkeypatch, store) -> None:
    runs, ids = store  # MLP twins on 2-D spirals, as the Gradient flow page records them
    at = open_with_stored_pair("attributions", runs, ids["residual"], monkeypatch)
    click_run(at)
    assert not at.error
    assert len(at.get("plotly_chart")) == 1  # the block shares; no maps
    assert "spirals data set has none" in at.info[0].value


# ---- the real thing, in a browser ----------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize(("page_name", "title"), [("lesion", "Lesion study"), ("attributions", "Attributions"),
                                                  ("landscape", "Loss landscape"),
                                                  ("shattered", "Shattered gradients")])
def test_each_page_runs_its_default_in_the_browser(page, page_name: str, title: str) -> None:
    page.goto(page.app_url)
    wait_idle(page)
    page.get_by_role("link", name=title, exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Run").click(timeout=120_000)
    # The first page trains the default pair on the server (cached for the others).
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2"
                           " && !document.querySelector('[data-testid=\"stProgress\"]')"
                           " && !document.querySelector('[data-testid=\"stSpinner\"]')", timeout=600_000)
    wait_idle(page, timeout_ms=600_000)
    assert_no_exception(page)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="must be").count() == 0
    screenshot(page, f"analysis-{page_name}")
