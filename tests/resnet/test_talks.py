"""Talk files: the built-in talk validates; each bad field is refused in one line naming file, scene and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resnet.cli import main
from resnet.presets import PRESETS
from resnet.store import RunStore
from resnet.talk_record import record_scene, recorded_pair
from resnet.talks import TalkError, find_talk, load_talk, parse_talk, talk_files

TWINS = ("plain", "residual")
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
    assert {"vanishing", "bn-explodes"} <= set(presets)
    cut = next(s for s in talk.scenes if s.actions)
    assert cut.events()[0] == (150, 10, False) and cut.events()[-1] == (300, None, True)
    assert len(cut.events()) == 21 + 1  # blocks 10..30 cut one by one, then all restored at once
    fig1 = next(s for s in talk.scenes if s.sweep is not None)
    assert (fig1.sweep.depths, fig1.sweep.nets, fig1.sweep.width, fig1.sweep.dataset) == ((20, 56), (False, True),
                                                                                          8, "digits")
    assert "degradation" not in presets  # the sweep shows Fig. 1 itself
    lesion = next(s.analysis for s in talk.scenes if s.analysis is not None)
    assert (lesion.kind, lesion.preset) == ("lesion", "cnn-20")


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
    ('analysis = { kind = "lesion", colour = 1 }', "analysis: colour: unknown key"),
    ('analysis = { kind = "lesion", preset = "cnn-9" }', "analysis.preset: unknown pair preset 'cnn-9'"),
    ('analysis = { kind = "lesion", preset = "cnn-20", pair = "abc" }', "analysis.preset/pair: give one"),
    ('analysis = { kind = "lesion", draws = 0 }', "analysis.draws: must be between 1 and 100"),
    ('analysis = { kind = "landscape", draws = 3 }', "analysis.draws: only the lesion study"),
    ("sweep = { nets = [\"plain\"] }", "sweep.depths: missing"),
    ("sweep = { depths = [21] }", "sweep.depths: depth 21 is not 6n+2"),
    ("sweep = { depths = [] }", "sweep.depths: must be a non-empty list"),
    ("sweep = { depths = [20], nets = [\"wide\"] }", "sweep.nets: must be a list of"),
    ("sweep = { depths = [20], dataset = \"spirals\" }", "sweep.dataset: must be one of digits"),
    ("sweep = { depths = [20], width = 0 }", "sweep.width: must be between 1 and 64"),
    ("sweep = { depths = [20], steps = \"long\" }", "sweep.steps: must be an integer"),
    ("sweep = { depths = [20], colour = 1 }", "sweep: colour: unknown key"),
    ("sweep = 7", "sweep: must be a non-empty string"),
    ('sweep = "tag"\nfigure = "fig7"', "figure: must be one of curves, depth, responses, got 'fig7'"),
    ('sweep = "tag"\nfigure = 7', "figure: must be one of curves, depth, responses, got 7"),
    ('run = "k"\nfigure = "depth"', "figure: only a sweep scene picks its figure"),
    ('preset = "vanishing"\nfigure = "curves"', "figure: only a sweep scene picks its figure"),
    ('analysis = { kind = "landscape", resolution = 4 }', "analysis: grid points per axis must be"),
    ('analysis = { kind = "landscape", span = "wide" }', "analysis.span: must be a number"),
    ('analysis = { kind = "lesion", span = 1.0 }', "analysis.span: only the loss landscape takes span"),
    ('analysis = { kind = "attributions", n_steps = 2 }', "analysis.n_steps: must be between 4 and 256"),
    ('analysis = { kind = "attributions", samples = 300 }', "analysis.samples: must be between 1 and 256"),
    ('analysis = { kind = "attributions", indices = [0, 1, 2, 3, 4, 5, 6, 7, 8] }',
     "analysis.indices: at most 8 test images, got 9"),
    ('analysis = { kind = "attributions", indices = [-1] }', "analysis.indices: must be between 0 and"),
    ('analysis = { kind = "attributions", indices = "all" }', "analysis.indices: must be a non-empty list"),
    ('analysis = { kind = "attributions", draws = 3 }', "analysis.draws: only the lesion study takes draws"),
    ('analysis = { kind = "lesion", n_steps = 8 }', "analysis.n_steps: only attributions takes n_steps"),
    ('analysis = { kind = "shattered", preset = "cnn-20" }',
     "analysis.preset: the shattered-gradients study trains its own nets, so it takes no preset"),
    ('analysis = { kind = "shattered", pair = "abc" }', "analysis.pair: the shattered-gradients study trains its"),
    ('analysis = { kind = "shattered", samples = 32 }',
     "analysis.samples: only the loss landscape and attributions take samples"),
    ('analysis = { kind = "shattered", depths = [2, 500] }', "analysis.depths: must be between 1 and 100"),
    ('analysis = { kind = "shattered", norm = "layer" }', "analysis.norm: must be one of batch, none"),
    ('analysis = { kind = "shattered", points = 32 }', "analysis.points: must be between 64 and 4096"),
    ('analysis = { kind = "shattered", seeds = 99 }', "analysis.seeds: must be between 1 and 16"),
    ('analysis = { kind = "shattered", steps = -1 }', "analysis.steps: must be between 0 and 2000"),
    ('analysis = { kind = "lesion", depths = [2] }', "analysis.depths: only the shattered-gradients study takes"),
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


def test_sweep_and_analysis_scenes_parse_with_their_defaults() -> None:
    talk = parse_talk(scene('[scenes.sweep]\ndepths = [56, 20, 20]\nnets = ["residual"]\nwidth = 4') +
                      '[[scenes]]\ntitle = "L"\ncaption = "C"\n[scenes.analysis]\nkind = "lesion"\ndraws = 3\n'
                      '[[scenes]]\ntitle = "T"\ncaption = "C"\nsweep = "2026-01-01 10:00 digits #1a2b"\n', name="t")
    sweep, lesion, tagged = talk.scenes
    assert sweep.source == "sweep" and sweep.sweep.depths == (20, 56) and sweep.sweep.nets == (True,)
    assert (sweep.sweep.steps, sweep.sweep.width, sweep.sweep.dataset, sweep.sweep.seeds) == (400, 4, "digits", 1)
    assert sweep.sweep.base().model.width == 4 and len(sweep.sweep.grid().points()) == 2
    assert (lesion.analysis.preset, lesion.analysis.params) == ("cnn-20", {"draws": 3, "seed": 0})
    assert tagged.sweep == "2026-01-01 10:00 digits #1a2b"
    assert sweep.figure == tagged.figure == "curves"  # Fig. 1/6's error curves unless the scene names another
    responses = parse_talk(scene('sweep = "t"\nfigure = "responses"'), name="t").scenes[0]
    assert responses.figure == "responses"


def test_attributions_and_shattered_scenes_parse_with_their_pages_defaults() -> None:
    talk = parse_talk(scene('analysis = { kind = "attributions", pair = "abc", n_steps = 8 }') +
                      '[[scenes]]\ntitle = "S"\ncaption = "C"\n[scenes.analysis]\nkind = "shattered"\n'
                      'depths = [10, 2, 2]\nsteps = 0\n', name="t")
    attributions, shattered = (s.analysis for s in talk.scenes)
    assert (attributions.pair, attributions.preset) == ("abc", None)
    assert attributions.settings == {"samples": 32, "n_steps": 8, "indices": (0, 1, 2, 3)}
    assert attributions.params == {"samples": 32, "n_steps": 8, "indices": [0, 1, 2, 3], "seed": 0}
    assert (shattered.pair, shattered.preset) == (None, None)  # the study trains its own nets
    assert shattered.params == {"depths": [2, 10], "width": 64, "norm": "batch", "points": 256, "seeds": 3,
                                "steps": 0}
    assert shattered.describe() == ("shattered study (depths [2, 10], width 64, norm batch, points 256, seeds 3, "
                                    "steps 0)")
    assert parse_talk(scene('analysis = { kind = "landscape" }'), name="t").scenes[0].analysis.samples == 128


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



TINY_TALK = """title = "Tiny recorded"
[[scenes]]
title = "Sweep"
caption = "Two tiny depths."
[scenes.sweep]
depths = [8, 14]
nets = ["plain", "residual"]
steps = 6
width = 4
[[scenes]]
title = "Lesion"
caption = "A tiny pair's lesion study."
[scenes.analysis]
kind = "lesion"
preset = "cnn-20"
draws = 2
[[scenes]]
title = "Landscape"
caption = "The same pair's loss around its weights."
[scenes.analysis]
kind = "landscape"
preset = "cnn-20"
resolution = 5
samples = 32
points_1d = 11
[[scenes]]
title = "Attributions"
caption = "The same pair's blocks and pixels."
analysis = { kind = "attributions", samples = 4, n_steps = 4, indices = [0, 2] }
[[scenes]]
title = "Shattered"
caption = "Gradients along a line, two depths."
analysis = { kind = "shattered", depths = [2, 3], width = 8, points = 64, seeds = 1, steps = 4 }
"""


def test_talk_record_records_the_sweep_and_the_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    from dataclasses import replace

    from resnet.analysis.pairs import PRESETS as PAIR_PRESETS
    from resnet.talk_analyses import recorded_analysis
    from resnet.talk_sweeps import recorded_sweep

    # A tiny stand-in for the cnn-20 pair preset keeps the test fast; the lookup matches on its config.
    tiny = replace(PAIR_PRESETS["cnn-20"], config=PAIR_PRESETS["cnn-20"].config.replace(depth=8, width=4), steps=8)
    monkeypatch.setitem(PAIR_PRESETS, "cnn-20", tiny)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TALK)
    out = tmp_path / "talk.db"
    assert main(["talk", "record", str(path), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "scene 1: sweep '" in printed and "scene 2: the lesion of preset 'cnn-20'" in printed
    assert "scene 3: the landscape of preset 'cnn-20'" in printed
    assert "scene 4: the attributions of preset 'cnn-20' (seed 0, samples 4, n steps 4, indices [0, 2])" in printed
    assert "scene 5: the shattered study (depths [2, 3], width 8, norm batch, points 64, seeds 1, steps 4)" in printed
    assert "not recorded" not in printed
    store = RunStore(out)
    talk = load_talk(path)
    tag = recorded_sweep(store, talk.scenes[0].sweep)
    runs = store.runs(sweep=tag)
    assert sorted((r.depth, r.residual) for r in runs) == [(8, False), (8, True), (14, False), (14, True)]
    assert all(r.status == "finished" and r.steps == 6 for r in runs)
    found = recorded_analysis(store, talk.scenes[1].analysis)
    assert found is not None and found.result.random["plain"].shape[1] == 2 and len(found.result.block_names) == 3
    landscape = recorded_analysis(store, talk.scenes[2].analysis).result
    assert landscape.grid.loss["plain"].shape == (5, 5) and landscape.line.loss["residual"].shape == (1, 11)
    attributed = recorded_analysis(store, talk.scenes[3].analysis)
    assert attributed.result.inputs.indices == [0, 2] and attributed.pair.run_ids == found.pair.run_ids
    study = recorded_analysis(store, talk.scenes[4].analysis)
    assert study.depths == [2, 3] and set(study.acf) == {(s, t) for s in ("init", "trained") for t in TWINS}
    assert len({r.pair for r in store.runs() if r.pair}) == 1  # the three analyses of the one pair trained for them
    count = len(store.runs())
    assert main(["talk", "record", str(path), "--out", str(out), "--jobs", "1"]) == 0  # recorded: nothing again
    assert len(store.runs()) == count
    assert recorded_sweep(store, replace(talk.scenes[0].sweep, steps=7)) is None  # another grid, another sweep
    laptop = RunStore(tmp_path / "laptop.db")  # the file carried to another machine: found there by tag and key
    imported = laptop.import_run(out)
    assert not imported.refused and imported.analyses == 4
    assert recorded_sweep(laptop, talk.scenes[0].sweep) == tag
    assert recorded_analysis(laptop, talk.scenes[1].analysis).result.block_names == found.result.block_names
    assert recorded_analysis(laptop, talk.scenes[3].analysis).result.blocks.block_names == found.result.block_names
    np.testing.assert_allclose(recorded_analysis(laptop, talk.scenes[4].analysis).lag1("trained", "residual"),
                               study.lag1("trained", "residual"))


def test_a_recorded_sweep_is_found_without_its_data_set_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet.talk_sweeps import recorded_sweep
    from resnet.talks import SweepSpec

    monkeypatch.setenv("GFL_DATA", str(tmp_path / "no-data"))  # no local CIFAR-10 copy on this laptop
    spec = SweepSpec(depths=(20, 56), dataset="cifar10", steps=5)
    store = RunStore(tmp_path / "laptop.db")
    assert recorded_sweep(store, spec) is None
    for config in spec.configs():  # as a GPU box recorded them, on cuda
        run = store.create_run(config.replace(device="cuda"), total_steps=5, blocks=["b"], layers=["l"],
                               sample_shape=(3, 32, 32), num_classes=10, device="cuda", sweep="cifar #1")
        store.finish(run, "finished", seconds=1.0)
    assert recorded_sweep(store, spec) == "cifar #1"
    store.finish(store.runs()[0].id, "stopped", seconds=1.0)
    assert recorded_sweep(store, spec) is None  # a grid with a run unfinished is not the scene's recording
