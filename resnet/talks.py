"""Talks: an ordered list of scenes in a TOML file, each a preset to train live, a run, pair or sweep to replay.

Built-in talks live in the top-level talks/ folder, the user's own in the folder $GFL_TALKS names
(a user's talk of the same name shadows the built-in one). A bad file is refused with one line
that names the file, the scene and the field.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from resnet.presets import PRESETS
from resnet.trainer import MAX_STEPS

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "talks"
TALKS_ENV = "GFL_TALKS"
SOURCES = ("preset", "run", "pair", "sweep", "analysis")  # what a scene shows: exactly one of these
ANALYSIS_KINDS = ("lesion", "landscape", "attributions", "shattered")
TALK_KEYS = {"title", "description", "scenes"}
SCENE_KEYS = {"title", "caption", "notes", "steps", "actions", *SOURCES}
ACTION_KEYS = {"at", "cut", "restore"}
MAX_TEXT = 2_000  # characters in a title or caption: a slide, not an essay


class TalkError(ValueError):
    """A talk file that cannot be used, in one line naming the file, the scene and the field."""


@dataclass(frozen=True)
class Action:
    """At step `at` of a live scene, switch the residual twin's shortcuts of `blocks` (None: all) to `on`."""

    at: int
    blocks: tuple[int, ...] | None
    on: bool

    def events(self) -> list[tuple[int, int | None, bool]]:
        """The shortcut events this action leaves in a run's record, as the trainer logs them."""
        if self.blocks is None:
            return [(self.at, None, self.on)]
        return [(self.at, i, self.on) for i in self.blocks]


@dataclass(frozen=True)
class Scene:
    """One slide of a talk: what it shows, its caption, and the actions scripted on a live preset."""

    title: str
    caption: str
    notes: str = ""
    preset: str | None = None
    steps: int | None = None  # a preset scene's steps (default: the preset's own)
    run: str | None = None  # a stored run's stable key
    pair: str | None = None  # a stored pair's key
    sweep: str | None = None  # a recorded sweep's tag
    analysis: dict | None = None  # {"kind": ..., ...}
    actions: tuple[Action, ...] = ()

    @property
    def source(self) -> str:
        """Which of SOURCES the scene shows."""
        return next(s for s in SOURCES if getattr(self, s) is not None)

    @property
    def total_steps(self) -> int | None:
        """The steps a preset scene trains for."""
        if self.preset is None:
            return None
        return self.steps if self.steps is not None else PRESETS[self.preset].steps

    def events(self) -> list[tuple[int, int | None, bool]]:
        """Every shortcut event the scene's actions make, in order."""
        return [e for a in self.actions for e in a.events()]


@dataclass(frozen=True)
class Talk:
    """A titled, ordered list of scenes, read from `path`."""

    name: str
    title: str
    scenes: tuple[Scene, ...]
    description: str = ""
    path: Path | None = field(default=None, compare=False)


def _text(where: str, name: str, value: object, *, required: bool) -> str:
    if value is None:
        if required:
            raise TalkError(f"{where}: {name}: missing (a non-empty string)")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TalkError(f"{where}: {name}: must be a non-empty string, got {value!r}")
    if len(value) > MAX_TEXT:
        raise TalkError(f"{where}: {name}: at most {MAX_TEXT} characters, got {len(value)}")
    return value.strip()


def _int(where: str, name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TalkError(f"{where}: {name}: must be an integer between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise TalkError(f"{where}: {name}: must be between {lo} and {hi}, got {value}")
    return value


def _unknown(where: str, table: dict, allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise TalkError(f"{where}: {extra[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")


def _blocks(where: str, name: str, value: object, n_blocks: int) -> tuple[int, ...] | None:
    """`"all"`, one block index, or an inclusive [first, last] range of block indices."""
    if value == "all":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (_int(where, name, value, 0, n_blocks - 1),)
    if isinstance(value, list) and len(value) == 2:
        first = _int(where, f"{name}[0]", value[0], 0, n_blocks - 1)
        last = _int(where, f"{name}[1]", value[1], first, n_blocks - 1)
        return tuple(range(first, last + 1))
    raise TalkError(f"{where}: {name}: must be \"all\", a block index or [first, last], got {value!r}")


def _action(where: str, table: object, n_blocks: int, steps: int) -> Action:
    if not isinstance(table, dict):
        raise TalkError(f"{where}: must be a table ([[scenes.actions]]), got {table!r}")
    _unknown(where, table, ACTION_KEYS)
    if "at" not in table:
        raise TalkError(f"{where}: at: missing (the step the action happens after)")
    at = _int(where, "at", table["at"], 1, steps - 1) if steps > 1 else _int(where, "at", table["at"], 1, 1)
    given = [k for k in ("cut", "restore") if k in table]
    if len(given) != 1:
        raise TalkError(f"{where}: cut/restore: give exactly one, got {len(given)}")
    kind = given[0]
    return Action(at, _blocks(where, kind, table[kind], n_blocks), on=kind == "restore")


def _scene(where: str, table: object) -> Scene:
    if not isinstance(table, dict):
        raise TalkError(f"{where}: must be a table ([[scenes]]), got {table!r}")
    _unknown(where, table, SCENE_KEYS)
    title = _text(where, "title", table.get("title"), required=True)
    caption = _text(where, "caption", table.get("caption"), required=True)
    notes = _text(where, "notes", table.get("notes"), required=False)
    given = [s for s in SOURCES if s in table]
    if len(given) != 1:
        raise TalkError(f"{where}: {'/'.join(SOURCES)}: give exactly one of them, got "
                        f"{', '.join(given) if given else 'none'}")
    source = given[0]
    value = table[source]
    if source == "analysis":
        if not isinstance(value, dict) or value.get("kind") not in ANALYSIS_KINDS:
            raise TalkError(f"{where}: analysis.kind: must be one of {', '.join(ANALYSIS_KINDS)}, got "
                            f"{value.get('kind') if isinstance(value, dict) else value!r}")
    elif source == "preset":
        if value not in PRESETS:
            raise TalkError(f"{where}: preset: unknown preset {value!r}; choose one of: {', '.join(PRESETS)}")
    else:
        _text(where, source, value, required=True)
    if source != "preset":
        for key in ("steps", "actions"):
            if key in table:
                raise TalkError(f"{where}: {key}: only a preset scene trains, so only it takes {key}")
        return Scene(title, caption, notes, **{source: value})
    steps = _int(where, "steps", table["steps"], 1, MAX_STEPS) if "steps" in table else None
    total = steps if steps is not None else PRESETS[value].steps
    actions_in = table.get("actions", [])
    if not isinstance(actions_in, list):
        raise TalkError(f"{where}: actions: must be a list of tables ([[scenes.actions]])")
    n_blocks = len(PRESETS[value].config.model.block_names())
    actions = tuple(_action(f"{where}: actions[{i + 1}]", a, n_blocks, total) for i, a in enumerate(actions_in))
    if [a.at for a in actions] != sorted(a.at for a in actions):
        raise TalkError(f"{where}: actions: must be in the order of their steps (at)")
    return Scene(title, caption, notes, preset=value, steps=steps, actions=actions)


def parse_talk(text: str, *, name: str, path: Path | str = "<talk>") -> Talk:
    """Validate the TOML text of a talk; a TalkError names the file, the scene and the field."""
    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TalkError(f"{where}: not valid TOML: {err}") from None
    _unknown(where, data, TALK_KEYS)
    title = _text(where, "title", data.get("title"), required=True)
    description = _text(where, "description", data.get("description"), required=False)
    scenes = data.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise TalkError(f"{where}: scenes: missing (at least one [[scenes]] table)")
    parsed = tuple(_scene(f"{where}: scene {i + 1}", s) for i, s in enumerate(scenes))
    return Talk(name=name, title=title, scenes=parsed, description=description,
                path=Path(path) if path != "<talk>" else None)


def load_talk(path: str | os.PathLike) -> Talk:
    """Read and validate the talk file at `path` (its name is the file's stem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TalkError(f"{path}: cannot read: {err}") from None
    return parse_talk(text, name=path.stem, path=path)


def talk_folders() -> list[Path]:
    """Where talks are looked for: the built-in folder, then the user's ($GFL_TALKS), which shadows it."""
    folders = [BUILTIN_DIR]
    if os.environ.get(TALKS_ENV):
        folders.append(Path(os.environ[TALKS_ENV]).expanduser())
    return folders


def talk_files() -> dict[str, Path]:
    """Every talk file by name (a user's talk shadows a built-in one of the same name)."""
    files: dict[str, Path] = {}
    for folder in talk_folders():
        if folder.is_dir():
            files.update({p.stem: p for p in sorted(folder.glob("*.toml"))})
    return dict(sorted(files.items()))


def find_talk(name: str) -> Talk:
    """The talk named `name`, or a TalkError listing the talks there are."""
    files = talk_files()
    if name not in files:
        raise TalkError(f"unknown talk {name!r}; talks: {', '.join(files) or 'none'}")
    return load_talk(files[name])
