"""Talk files: the built-in talk validates; each bad field is refused in one line naming file, scene and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet.cli import main
from resnet.presets import PRESETS
from resnet.store import RunStore
from resnet.talk_record import record_scene, recorded_pair
from resnet.talks import TalkError, find_talk, parse_talk, talk_files

GOOD = """
title = "Tiny"
[[scenes]]
title = "Live"
caption = "Twins train."
preset = "vanishing"
steps = 40
[[scenes.actions]]
at = 10
cut = [2, 4]
[[scenes.actions]]
at = 20
restore = "all"
[[scenes]]
title = "Replay"
caption = "A stored pair."
pair = "abc"
"""


def scene(body: str) -> str:
    """A one-scene talk whose scene is `body`."""
    return f'title = "T"\n[[scenes]]\ntitle = "S"\ncaption = "C"\n{body}\n'


def test_builtin_talk_validates_and_tells_the_story() -> None:
    talk = find_talk("residual-learning")
    presets = [s.preset for s in talk.scenes if s.preset]
    assert {"vanishing", "bn-explodes", "degradation"} <= set(presets)
    cut = next(s for s in talk.scenes if s.actions)
    assert cut.events()[0] == (150, 10, False) and cut.events()[-1] == (300, None, True)
    assert len(cut.events()) == 21 + 1  # blocks 10..30 cut one by one, then all restored at once
    assert any(s.analysis and s.analysis["kind"] == "lesion" for s in talk.scenes)


def test_good_talk_parses() -> None:
    talk = parse_talk(GOOD, name="tiny")
    live, replay = talk.scenes
    assert (live.source, live.total_steps, replay.source) == ("preset", 40, "pair")
    assert [a.blocks for a in live.actions] == [(2, 3, 4), None]


@pytest.mark.parametrize(("body", "field"), [
    ('preset = "vanishing"\ncolour = "red"', "colour: unknown key"),
    ('preset = "nope"', "preset: unknown preset 'nope'"),
    ('preset = "vanishing"\nrun = "k"', "give exactly one of them, got preset, run"),
    ("", "give exactly one of them, got none"),
    ('preset = "vanishing"\nsteps = 0', "steps: must be between 1 and"),
    ('preset = "vanishing"\n[[scenes.actions]]\nat = 10\ncut = [10, 80]',
     "actions[1]: cut[1]: must be between 10 and 49"),
    ('preset = "vanishing"\n[[scenes.actions]]\nat = 999\ncut = 1', "actions[1]: at: must be between 1 and 399"),
    ('preset = "vanishing"\n[[scenes.actions]]\nat = 5', "cut/restore: give exactly one"),
    ('preset = "vanishing"\n[[scenes.actions]]\nat = 5\ncut = 1\nwhen = 2', "actions[1]: when: unknown key"),
    ('preset = "vanishing"\n[[scenes.actions]]\nat = 9\ncut = 1\n[[scenes.actions]]\nat = 5\nrestore = 1',
     "actions: must be in the order"),
    ('run = "k"\nsteps = 5', "steps: only a preset scene trains"),
    ('analysis = { kind = "magic" }', "analysis.kind: must be one of"),
])
def test_bad_field_is_named(body: str, field: str) -> None:
    with pytest.raises(TalkError) as err:
        parse_talk(scene(body), name="bad", path="bad.toml")
    assert str(err.value).startswith("bad.toml: scene 1: ") and field in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_talk_level_fields() -> None:
    with pytest.raises(TalkError, match=r"^t.toml: scenes: missing"):
        parse_talk('title = "T"', name="t", path="t.toml")
    with pytest.raises(TalkError, match=r"^t.toml: not valid TOML"):
        parse_talk("title = ", name="t", path="t.toml")
    with pytest.raises(TalkError, match=r"^t.toml: title: missing"):
        parse_talk('[[scenes]]\ntitle="S"\ncaption="C"\nrun="k"', name="t", path="t.toml")


def test_users_folder_adds_and_unknown_talk_lists_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.toml").write_text(GOOD)
    monkeypatch.setenv("GFL_TALKS", str(tmp_path))
    assert {"mine", "residual-learning"} <= set(talk_files())
    assert find_talk("mine").title == "Tiny"
    with pytest.raises(TalkError, match="unknown talk 'nope'; talks: mine, residual-learning"):
        find_talk("nope")


def test_cli_talk_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(scene('preset = "vanishing"\nsteps = "many"'))
    assert main(["talk", "check", str(good)]) == 0
    assert "2 scene(s)" in capsys.readouterr().out
    assert main(["talk", "check", str(bad)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.endswith("bad.toml: scene 1: steps: must be an integer between 1 and 100000, got 'many'")
    assert "\n" not in line


def test_recorded_scene_is_found_with_its_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    # A tiny stand-in for the vanishing preset keeps the test fast; the lookup matches on the preset's config.
    tiny = replace(PRESETS["vanishing"], config=PRESETS["vanishing"].config.replace(
        depth=6, width=8, test_every=10), steps=12)
    monkeypatch.setitem(PRESETS, "vanishing", tiny)
    talk = parse_talk(GOOD.replace("steps = 40", "steps = 12").replace("at = 20", "at = 8")
                      .replace("at = 10", "at = 4"), name="tiny")
    store = RunStore(tmp_path / "talk.db")
    live = talk.scenes[0]
    plain_only = replace(live, actions=())
    assert recorded_pair(store, live) is None
    plain_id, residual_id = record_scene(store, live, device="cpu")
    plain, residual = recorded_pair(store, live)
    assert (plain.id, residual.id) == (plain_id, residual_id) and plain.pair == residual.pair
    assert store.events(residual_id) == live.events()
    assert recorded_pair(store, plain_only) is None  # a scene without the actions is another recording

