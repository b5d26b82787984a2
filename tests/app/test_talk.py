"""Talk mode under AppTest: a recorded talk (pairs, a sweep, a lesion study) replays with no job, keys move
between scenes, bad input and missing recordings warn and the talk goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from resnet.jobs import job_server
from resnet.store import RunStore
from tests.helpers import wait_for, write_fixture_talk

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def talk_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$GFL_TALKS with the fixture talk, its runs in the test's own store."""
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    write_fixture_talk(tmp_path, RunStore(os.environ["GFL_STORE"]))
    return tmp_path


def figures(at: AppTest) -> list[str]:
    """The page's figures as Plotly JSON, in page order: a talk draws them in place (pages.charts), or as
    Plotly's own chart where plotly.js cannot be served."""
    return ([c.proto.spec for c in at.get("plotly_chart")]
            + [json.loads(c.proto.json)["figure"] for c in at.get("bidi_component")])


def open_talk(query: dict[str, str]) -> AppTest:
    """Run the app once with `query` as the URL's parameters."""
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_recorded_talk_replays_with_no_job(talk_dir: Path) -> None:
    at = open_talk({"talk": "fixture"})
    assert not at.exception
    assert "1 / 5" in " ".join(m.value for m in at.markdown)
    assert len(at.get("bidi_component")) == 1 and not at.get("plotly_chart")  # drawn in place, with the light bundle
    assert "talk_job" not in at.session_state  # replayed from the store: nothing trains
    next_button = next(b for b in at.button if b.label == "Next")
    next_button.click().run()
    assert at.session_state["talk_scene"] == 2 and len(figures(at)) == 1
    assert "talk_job" not in at.session_state


def test_missing_run_says_which_and_the_talk_goes_on(talk_dir: Path) -> None:
    at = open_talk({"talk": "fixture", "scene": "3"})
    assert not at.exception
    assert any("no-such-key" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Back").click().run()
    assert at.session_state["talk_scene"] == 2 and len(figures(at)) == 1


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


def test_a_live_scene_carries_its_actions_out_at_their_steps(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    (tmp_path / "live.toml").write_text("""title = "Live"
[[scenes]]
title = "Cut and restore"
caption = "The shortcuts of blocks 1 and 2 are cut at step 5; every shortcut is back at step 12."
preset = "vanishing"
steps = 20
[[scenes.actions]]
at = 5
cut = [1, 2]
[[scenes.actions]]
at = 12
restore = "all"
""")
    at = open_talk({"talk": "live", "scene": "1"})
    next(b for b in at.button if b.label == "Train preset 'vanishing' live").click().run()
    job = at.session_state["talk_job"]
    assert wait_for(lambda: job.state == "finished", 60)
    # However seldom the page looked, the switches are on the steps the caption names.
    assert job.view().events == [(5, 1, False), (5, 2, False), (12, None, True)]
    job.stop()
    assert wait_for(lambda: not job_server().jobs(), 20)


def test_recorded_sweep_and_lesion_scenes_replay_with_no_job(talk_dir: Path) -> None:
    at = open_talk({"talk": "fixture", "scene": "4"})
    assert not at.exception and not at.warning
    (sweep,) = figures(at)
    assert "Fig. 1" in sweep  # the Degradation page's error curves
    assert any("At depth 8 the ResNet's training error" in i.value for i in at.info)  # computed, not canned
    next(b for b in at.button if b.label == "Next").click().run()
    assert at.session_state["talk_scene"] == 5 and not at.exception and not at.warning
    bars, curve = figures(at)
    assert "Delete one block" in bars and "random" in curve
    assert any("deleting" in i.value.lower() for i in at.info)  # the lesion page's computed sentences
    assert any("Test error: plain" in c.value for c in at.caption)
    assert job_server().jobs() == [] and "talk_job" not in at.session_state  # nothing trained or computed


# The fixture's recorded sweep (tests.helpers.write_fixture_talk) as the two other figures a sweep scene shows.
SWEEP_FIGURES = 'title = "Sweep figures"\n' + "".join(
    f'[[scenes]]\ntitle = "{figure}"\ncaption = "The sweep: {figure}."\nfigure = "{figure}"\n'
    '[scenes.sweep]\ndepths = [8]\nwidth = 4\nsteps = 12\n' for figure in ("depth", "responses"))


def test_a_sweep_scene_shows_the_figure_it_names(talk_dir: Path) -> None:
    (talk_dir / "figures.toml").write_text(SWEEP_FIGURES)
    at = open_talk({"talk": "figures", "scene": "1"})
    assert not at.exception and not at.warning
    (depth,) = figures(at)
    assert "Final error against depth" in depth
    assert any("At depth 8 the ResNet's training error" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Next").click().run()
    assert not at.exception and not at.warning
    (responses,) = figures(at)
    assert "Fig. 7" in responses
    assert any(i.value.startswith("Depth 8: the ResNet's responses") for i in at.info)  # computed from the runs
    assert job_server().jobs() == []


MISSING = """title = "Missing"
[[scenes]]
title = "Unrecorded sweep"
caption = "Nobody trained it."
[scenes.sweep]
depths = [20, 110]
[[scenes]]
title = "Unrecorded lesion"
caption = "Nobody computed it."
[scenes.analysis]
kind = "lesion"
preset = "cnn-56"
[[scenes]]
title = "Tagged"
caption = "A tag nobody has."
sweep = "no such sweep"
"""


def test_missing_sweep_and_analysis_say_which_and_the_talk_goes_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    (tmp_path / "missing.toml").write_text(MISSING)
    at = open_talk({"talk": "missing"})
    assert not at.exception and not figures(at)
    assert any("No recorded sweep of plain and residual at depths 20, 110" in w.value
               and "talk record missing" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Next").click().run()
    assert not at.exception
    assert any("No recorded lesion of preset 'cnn-56' (seed 0, draws 10)" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Next").click().run()
    assert any("No recorded sweep 'no such sweep'" in w.value for w in at.warning)
    assert job_server().jobs() == []


def test_a_damaged_stored_result_says_so_and_the_talk_goes_on(talk_dir: Path) -> None:
    import sqlite3

    with sqlite3.connect(os.environ["GFL_STORE"]) as con:
        con.execute("UPDATE analyses SET result = json_set(result, '$.result.chance', 'lots')")
    at = open_talk({"talk": "fixture", "scene": "5"})
    assert not at.exception and not figures(at)
    assert any("lesion result cannot be shown" in w.value and "result.chance: expected" in w.value
               for w in at.warning)
    next(b for b in at.button if b.label == "Back").click().run()
    assert at.session_state["talk_scene"] == 4 and len(figures(at)) == 1


def recorded_talk(talk_dir: Path, name: str, text: str) -> None:
    """Write talk `name` and record every scene's analysis into the test's store (`{pair}`: the fixture's pair)."""
    from resnet.talk_analyses import record_analysis
    from resnet.talks import load_talk

    pair = load_talk(talk_dir / "fixture.toml").scenes[1].pair  # the fixture's small CNN pair
    (talk_dir / f"{name}.toml").write_text(text.replace("{pair}", pair))
    store = RunStore(os.environ["GFL_STORE"])
    for scene in load_talk(talk_dir / f"{name}.toml").scenes:
        record_analysis(store, scene.analysis, device="cpu")


def test_a_recorded_landscape_scene_replays_with_no_job(talk_dir: Path) -> None:
    recorded_talk(talk_dir, "landscape", """title = "Landscape"
[[scenes]]
title = "Recorded landscape"
caption = "The small CNN pair's loss around its weights."
[scenes.analysis]
kind = "landscape"
pair = "{pair}"
resolution = 5
samples = 32
points_1d = 11
""")
    at = open_talk({"talk": "landscape"})
    assert not at.exception and not at.warning
    (contours,) = figures(at)
    assert '"type":"contour"' in contours
    assert any("5x5 grid" in c.value for c in at.caption) and at.info  # the Loss landscape page's sentences
    assert job_server().jobs() == []


def test_recorded_attributions_and_shattered_scenes_replay_with_no_job(talk_dir: Path) -> None:
    recorded_talk(talk_dir, "studies", """title = "Studies"
[[scenes]]
title = "Recorded attributions"
caption = "The small CNN pair's blocks and pixels."
[scenes.analysis]
kind = "attributions"
pair = "{pair}"
samples = 4
n_steps = 4
indices = [0, 2]
[[scenes]]
title = "Recorded shattered gradients"
caption = "Gradients along a line of inputs."
[scenes.analysis]
kind = "shattered"
depths = [2, 3]
width = 8
points = 64
seeds = 1
steps = 4
""")
    at = open_talk({"talk": "studies"})
    assert not at.exception and not at.warning
    bars, maps = figures(at)
    assert "Which blocks carry the prediction" in bars and "Pixel attributions" in maps
    assert any("Bars: first 4 test samples, 4 integration steps" in c.value for c in at.caption)
    assert any("Residual net: each block's F carries" in i.value and "Integrated gradients add up" in i.value
               for i in at.info)  # the Attributions page's computed sentences
    next(b for b in at.button if b.label == "Next").click().run()
    assert at.session_state["talk_scene"] == 2 and not at.exception and not at.warning
    lag1, acf = figures(at)
    assert "decays with depth" in lag1 and "Autocorrelation against lag, depth 3" in acf
    assert any("At initialisation, depth 3" in i.value and "After training" in i.value for i in at.info)
    assert job_server().jobs() == [] and "talk_job" not in at.session_state  # nothing trained or computed


def test_a_missing_shattered_study_says_which_and_links_its_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    (tmp_path / "unrecorded.toml").write_text("""title = "Unrecorded"
[[scenes]]
title = "Nobody studied it"
caption = "Gradients along a line."
[scenes.analysis]
kind = "shattered"
depths = [2, 3]
""")
    at = open_talk({"talk": "unrecorded"})
    assert not at.exception and not figures(at)
    assert any("No recorded shattered study (depths [2, 3], width 64" in w.value and "talk record unrecorded"
               in w.value for w in at.warning)
    assert [link.proto.page for link in at.get("page_link")] == ["shattered"]  # the Shattered gradients page
    assert job_server().jobs() == []
