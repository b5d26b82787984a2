"""Talk mode under AppTest: a recorded talk replays with no job, keys move between scenes, bad input warns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from resnet.store import RunStore
from tests.helpers import write_fixture_talk

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def talk_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$GFL_TALKS with the fixture talk, its runs in the test's own store."""
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    write_fixture_talk(tmp_path, RunStore(os.environ["GFL_STORE"]))
    return tmp_path


def open_talk(query: dict[str, str]) -> AppTest:
    """Run the app once with `query` as the URL's parameters."""
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_recorded_talk_replays_with_no_job(talk_dir: Path) -> None:
    at = open_talk({"talk": "fixture"})
    assert not at.exception
    assert "1 / 3" in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1
    assert "talk_job" not in at.session_state  # replayed from the store: nothing trains
    next_button = next(b for b in at.button if b.label == "Next")
    next_button.click().run()
    assert at.session_state["talk_scene"] == 2 and len(at.get("plotly_chart")) == 1
    assert "talk_job" not in at.session_state


def test_missing_run_says_which_and_the_talk_goes_on(talk_dir: Path) -> None:
    at = open_talk({"talk": "fixture", "scene": "3"})
    assert not at.exception
    assert any("no-such-key" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Back").click().run()
    assert at.session_state["talk_scene"] == 2 and len(at.get("plotly_chart")) == 1


def test_unknown_talk_and_scene_warn_and_list_talks(talk_dir: Path) -> None:
    at = open_talk({"talk": "nope"})
    assert any("unknown talk 'nope'" in w.value for w in at.warning)
    assert any("fixture" in m.value and "residual-learning" in m.value for m in at.markdown)
    at = open_talk({"talk": "fixture", "scene": "9"})
    assert any("has no scene '9'" in w.value for w in at.warning)
    assert at.session_state["talk_scene"] == 1


def test_preset_scene_without_recording_offers_live_training(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    at = open_talk({"talk": "residual-learning", "scene": "1"})
    assert not at.exception
    assert any("No recorded run of preset 'vanishing'" in w.value for w in at.warning)
    assert any(b.label == "Train preset 'vanishing' live" for b in at.button)
