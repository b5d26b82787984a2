"""Talks: an ordered list of scenes in a TOML file, each a preset to train live, or a recorded run, pair,
sweep or analysis result to replay.

A sweep scene names a sweep by its tag (`sweep = "TAG"`), or describes its grid (`[scenes.sweep]`
depths, nets, steps, width, dataset, seeds, seed) and replays the newest finished sweep of that grid, as
the figure its `figure` names (SWEEP_FIGURES: the error curves by default);
an analysis scene (`[scenes.analysis]` kind, then preset or pair, and the analysis's own settings)
replays the result recorded for that pair; a shattered-gradients scene names only its study's
settings, since that study trains its own nets. Built-in talks live in the top-level talks/ folder, the
user's own in the folder $GFL_TALKS names (a user's talk of the same name shadows the built-in one).
A bad file is refused with one line that names the file, the scene and the field.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from resnet.analysis.landscape import check_landscape
from resnet.analysis.lesion import MAX_DRAWS
from resnet.analysis.pairs import PRESETS as PAIR_PRESETS
from resnet.analysis.records import (
    RECORDED_KINDS,
    STUDY_KINDS,
    attributions_params,
    landscape_params,
    lesion_params,
    shattered_params,
)
from resnet.analysis.results import MAX_IMAGES, SAMPLES, STEPS
from resnet.analysis.shattered import LAGS, MAX_DEPTH, POINTS, check_shattered
from resnet.analysis.shattered import MAX_SEEDS as MAX_DRAWS_AT_INIT
from resnet.analysis.shattered import MAX_STEPS as MAX_STUDY_STEPS
from resnet.data import IMAGE_DATASETS
from resnet.layers import NORMS
from resnet.nets import MAX_CNN_WIDTH, MAX_MLP_WIDTH, check_cnn_depth
from resnet.presets import PRESETS
from resnet.sweeps.grid import MAX_SEEDS, SweepGrid, grid_configs
from resnet.trainer import MAX_STEPS, TrainConfig

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "talks"
TALKS_ENV = "GFL_TALKS"
SOURCES = ("preset", "run", "pair", "sweep", "analysis")  # what a scene shows: exactly one of these
ANALYSIS_KINDS = RECORDED_KINDS  # every analysis a scene shows is recorded ahead and replayed
TALK_KEYS = {"title", "description", "scenes"}
SCENE_KEYS = {"title", "caption", "notes", "steps", "actions", "figure", *SOURCES}
# A sweep scene's figure: "curves", error during training (He et al. 2015, Fig. 1 and 6); "depth", final
# error against depth; "responses", the std of each layer's response (Fig. 7).
SWEEP_FIGURES = ("curves", "depth", "responses")
ACTION_KEYS = {"at", "cut", "restore"}
SWEEP_KEYS = {"depths", "nets", "steps", "width", "dataset", "seeds", "seed"}
PAIR_KEYS = {"preset", "pair", "seed"}  # which pair an analysis of a pair ran on
KIND_KEYS = {  # each kind's own settings, as its page names them
    "lesion": {"draws"},
    "landscape": {"resolution", "samples", "span", "points_1d"},
    "attributions": {"samples", "n_steps", "indices"},
    "shattered": {"depths", "width", "norm", "points", "seeds", "steps"},
}
KIND_NAMES = {"lesion": "the lesion study", "landscape": "the loss landscape", "attributions": "attributions",
              "shattered": "the shattered-gradients study"}
ANALYSIS_KEYS = {"kind", *PAIR_KEYS, *(k for keys in KIND_KEYS.values() for k in keys)}
DEFAULT_SAMPLES = {"landscape": 128, "attributions": 32}  # their pages' defaults
NETS = ("plain", "residual")
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
class SweepSpec:
    """A depth sweep's grid, as a talk describes it: `talk record` trains it, the talk replays the newest
    finished sweep of exactly these runs. The recipe is the Degradation page's (the paper's: SGD 0.1,
    momentum 0.9, weight decay 1e-4, batch 128)."""

    depths: tuple[int, ...]
    nets: tuple[bool, ...] = (False, True)  # plain (False) and/or residual (True)
    steps: int = 400
    width: int = 8
    dataset: str = "digits"
    seeds: int = 1
    seed: int = 0

    def base(self, device: str = "auto") -> TrainConfig:
        """The config every run of the grid starts from (the Degradation page's for these knobs)."""
        return TrainConfig(dataset=self.dataset, seed=self.seed, device=device).replace(family="cnn",
                                                                                        width=self.width)

    def grid(self, device: str = "auto") -> SweepGrid:
        """The grid to train (checks that a torchvision data set has its local copy)."""
        return SweepGrid(self.base(device), self.depths, self.nets, self.seeds, (), self.steps)

    def configs(self) -> list[TrainConfig]:
        """Every run's config, as the grid trains them (the data set need not be on this machine)."""
        return grid_configs(self.base(), self.depths, self.nets, self.seeds, (self.dataset,))

    def describe(self) -> str:
        """The grid in words, for a line that says it is missing."""
        nets = " and ".join(NETS[r] for r in self.nets)
        return (f"{nets} at depths {', '.join(map(str, self.depths))}, width {self.width}, {self.steps} steps, "
                f"{self.dataset}, {self.seeds} seed(s) from {self.seed}")


@dataclass(frozen=True)
class AnalysisSpec:
    """An analysis result to replay: its kind, the pair (an analysis preset's, or a stored pair's key; none for a
    study that trains its own nets), and its settings (the analysis page's defaults)."""

    kind: str
    preset: str | None = None  # one of resnet.analysis.pairs.PRESETS: recorded by `talk record`
    pair: str | None = None  # a stored pair's key
    draws: int = 10  # lesion: random draws per number of deleted blocks
    seed: int = 0  # the preset's training seed; the analysis's random draws use it too
    resolution: int = 21  # landscape: grid points per axis (the Loss landscape page's defaults)
    samples: int | None = None  # landscape: training samples the loss is averaged over (128); attributions:
    #                             test images the block shares average over (32); None: the kind's default
    span: float = 1.0  # landscape: the grid covers [-span, span]
    points_1d: int = 51  # landscape: points along the 1-D slice
    n_steps: int = 32  # attributions: integration steps
    indices: tuple[int, ...] = (0, 1, 2, 3)  # attributions: the test images whose pixel maps are drawn
    depths: tuple[int, ...] = (2, 5, 10, 20, 50)  # shattered: the nets' depths (the Shattered page's defaults)
    width: int = 64  # shattered: the MLPs' width
    norm: str = "batch"  # shattered: normalisation in every unit
    points: int = 256  # shattered: inputs along the segment
    seeds: int = 3  # shattered: draws of the weights at initialisation
    steps: int = 100  # shattered: training steps (0: initialisation only)

    def __post_init__(self) -> None:
        if self.samples is None:  # frozen: the default is set once, here
            object.__setattr__(self, "samples", DEFAULT_SAMPLES.get(self.kind, 128))

    @property
    def settings(self) -> dict:
        """The analysis's own settings, as its job function takes them (seed aside)."""
        if self.kind == "lesion":
            return {"draws": self.draws}
        if self.kind == "landscape":
            return {"resolution": self.resolution, "samples": self.samples, "span": self.span,
                    "points_1d": self.points_1d}
        if self.kind == "attributions":
            return {"samples": self.samples, "n_steps": self.n_steps, "indices": self.indices}
        if self.kind == "shattered":
            return {"depths": self.depths, "width": self.width, "norm": self.norm, "points": self.points,
                    "seeds": self.seeds, "steps": self.steps}
        return {}

    @property
    def params(self) -> dict:
        """The analysis's settings, as the store keys its result (with the pair, or the study key, and the kind)."""
        if self.kind == "lesion":
            return lesion_params(self.draws, self.seed)
        if self.kind == "landscape":
            return landscape_params(self.resolution, self.samples, self.span, self.points_1d, self.seed)
        if self.kind == "attributions":
            return attributions_params(self.samples, self.n_steps, self.indices, self.seed)
        if self.kind == "shattered":
            return shattered_params(**self.settings)
        return {"seed": self.seed}

    def describe(self) -> str:
        """Which result, in words."""
        extra = ", ".join(f"{k.replace('_', ' ')} {_setting(v)}" for k, v in self.settings.items())
        if self.kind in STUDY_KINDS:
            return f"{self.kind} study ({extra})"
        pair = f"preset '{self.preset}'" if self.preset else f"pair '{self.pair}'"
        return f"{self.kind} of {pair} (seed {self.seed}{', ' + extra if extra else ''})"


def _setting(value: object) -> str:
    """A setting in words: a number as :g prints it, a list in brackets, a word as it is."""
    if isinstance(value, (tuple, list)):
        return f"[{', '.join(map(str, value))}]"
    return value if isinstance(value, str) else f"{value:g}"


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
    sweep: str | SweepSpec | None = None  # a recorded sweep's tag, or its grid
    analysis: AnalysisSpec | None = None
    actions: tuple[Action, ...] = ()
    figure: str = "curves"  # a sweep scene's figure, one of SWEEP_FIGURES

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


def _int_list(where: str, name: str, value: object) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
        raise TalkError(f"{where}: {name}: must be a non-empty list of integers, got {value!r}")
    return value


def _sweep(where: str, value: object) -> str | SweepSpec:
    """A sweep's tag, or a table describing its grid."""
    if not isinstance(value, dict):
        return _text(where, "sweep", value, required=True)
    _unknown(f"{where}: sweep", value, SWEEP_KEYS)
    if "depths" not in value:
        raise TalkError(f"{where}: sweep.depths: missing (a list of depths such as [20, 56])")
    depths = _int_list(where, "sweep.depths", value["depths"])
    for depth in depths:
        try:
            check_cnn_depth(depth, "basic")
        except ValueError as err:
            raise TalkError(f"{where}: sweep.depths: {err}") from None
    nets = value.get("nets", list(NETS))
    if not isinstance(nets, list) or not nets or any(n not in NETS for n in nets):
        raise TalkError(f"{where}: sweep.nets: must be a list of \"plain\" and/or \"residual\", got {nets!r}")
    dataset = value.get("dataset", "digits")
    if dataset not in IMAGE_DATASETS:
        raise TalkError(f"{where}: sweep.dataset: must be one of {', '.join(IMAGE_DATASETS)}, got {dataset!r}")
    spec = SweepSpec(tuple(sorted(set(depths))), tuple(sorted({n == "residual" for n in nets})),
                     steps=_int(where, "sweep.steps", value.get("steps", 400), 1, MAX_STEPS),
                     width=_int(where, "sweep.width", value.get("width", 8), 1, MAX_CNN_WIDTH), dataset=dataset,
                     seeds=_int(where, "sweep.seeds", value.get("seeds", 1), 1, MAX_SEEDS),
                     seed=_int(where, "sweep.seed", value.get("seed", 0), 0, 2**31 - MAX_SEEDS))
    try:
        spec.base()
    except ValueError as err:  # the engine's own bounds on a config
        raise TalkError(f"{where}: sweep: {err}") from None
    return spec


def _analysis(where: str, value: object) -> AnalysisSpec:
    """An analysis result: its kind, which pair (a preset or a stored pair's key) and its settings."""
    kinds = ", ".join(ANALYSIS_KINDS)
    if not isinstance(value, dict) or value.get("kind") not in ANALYSIS_KINDS:
        raise TalkError(f"{where}: analysis.kind: must be one of {kinds}, got "
                        f"{value.get('kind') if isinstance(value, dict) else value!r}")
    _unknown(f"{where}: analysis", value, ANALYSIS_KEYS)
    kind = value["kind"]
    _other_kinds_keys(where, kind, value)
    if kind in STUDY_KINDS:
        return _study(where, value)
    if "preset" in value and "pair" in value:
        raise TalkError(f"{where}: analysis.preset/pair: give one of them, not both")
    preset = value.get("preset", None if "pair" in value else "cnn-20")
    if preset is not None and preset not in PAIR_PRESETS:
        raise TalkError(f"{where}: analysis.preset: unknown pair preset {preset!r}; choose one of: "
                        f"{', '.join(PAIR_PRESETS)}")
    pair = _text(where, "analysis.pair", value["pair"], required=True) if "pair" in value else None
    span = value.get("span", 1.0)
    if isinstance(span, bool) or not isinstance(span, (int, float)):
        raise TalkError(f"{where}: analysis.span: must be a number, got {span!r}")
    samples = _int(where, "analysis.samples", value["samples"], 1, MAX_STEPS) if "samples" in value else None
    indices = _int_list(where, "analysis.indices", value.get("indices", [0, 1, 2, 3]))
    spec = AnalysisSpec(kind, preset=preset, pair=pair,
                        draws=_int(where, "analysis.draws", value.get("draws", 10), 1, MAX_DRAWS),
                        seed=_int(where, "analysis.seed", value.get("seed", 0), 0, 2**31 - 1),
                        resolution=_int(where, "analysis.resolution", value.get("resolution", 21), 1, MAX_STEPS),
                        samples=samples, span=float(span),
                        points_1d=_int(where, "analysis.points_1d", value.get("points_1d", 51), 1, MAX_STEPS),
                        n_steps=_int(where, "analysis.n_steps", value.get("n_steps", 32), *STEPS),
                        indices=tuple(_int(where, "analysis.indices", i, 0, 2**31 - 1) for i in indices))
    if spec.kind == "landscape":
        try:  # the Loss landscape page's own bounds
            check_landscape(**spec.settings)
        except ValueError as err:
            raise TalkError(f"{where}: analysis: {err}") from None
    if spec.kind == "attributions":  # the Attributions page's bounds; indices meet the test set's size later
        _int(where, "analysis.samples", spec.samples, *SAMPLES)
        if len(spec.indices) > MAX_IMAGES:
            raise TalkError(f"{where}: analysis.indices: at most {MAX_IMAGES} test images, got {len(spec.indices)}")
    return spec


def _other_kinds_keys(where: str, kind: str, value: dict) -> None:
    """Refuse a setting of another kind, or a pair for a study that trains its own nets, naming who takes it."""
    for key in sorted(set(value) - {"kind"}):
        if key in PAIR_KEYS and kind in STUDY_KINDS:
            raise TalkError(f"{where}: analysis.{key}: {KIND_NAMES[kind]} trains its own nets, so it takes no "
                            f"{key}; give its settings ({', '.join(sorted(KIND_KEYS[kind]))})")
        if key not in PAIR_KEYS and key not in KIND_KEYS[kind]:
            takers = [KIND_NAMES[k] for k in ANALYSIS_KINDS if key in KIND_KEYS[k]]
            raise TalkError(f"{where}: analysis.{key}: only {' and '.join(takers)} "
                            f"{'takes' if len(takers) == 1 else 'take'} {key}")


def _study(where: str, value: dict) -> AnalysisSpec:
    """A shattered-gradients study: no pair, only its settings (the Shattered page's bounds)."""
    depths = [_int(where, "analysis.depths", d, 1, MAX_DEPTH)
              for d in _int_list(where, "analysis.depths", value.get("depths", [2, 5, 10, 20, 50]))]
    norm = value.get("norm", "batch")
    if norm not in NORMS:
        raise TalkError(f"{where}: analysis.norm: must be one of {', '.join(NORMS)}, got {norm!r}")
    spec = AnalysisSpec(value["kind"], depths=tuple(sorted(set(depths))), norm=norm,
                        width=_int(where, "analysis.width", value.get("width", 64), 2, MAX_MLP_WIDTH),
                        # The autocorrelation runs to lag LAGS, which needs 4 points a lag.
                        points=_int(where, "analysis.points", value.get("points", 256), 4 * LAGS, POINTS[1]),
                        seeds=_int(where, "analysis.seeds", value.get("seeds", 3), 1, MAX_DRAWS_AT_INIT),
                        steps=_int(where, "analysis.steps", value.get("steps", 100), 0, MAX_STUDY_STEPS))
    try:
        check_shattered(**spec.settings)
    except ValueError as err:
        raise TalkError(f"{where}: analysis: {err}") from None
    return spec


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
        value = _analysis(where, value)
    elif source == "sweep":
        value = _sweep(where, value)
    elif source == "preset":
        if value not in PRESETS:
            raise TalkError(f"{where}: preset: unknown preset {value!r}; choose one of: {', '.join(PRESETS)}")
    else:
        _text(where, source, value, required=True)
    figure = table.get("figure", "curves")
    if "figure" in table and source != "sweep":
        raise TalkError(f"{where}: figure: only a sweep scene picks its figure")
    if figure not in SWEEP_FIGURES:
        raise TalkError(f"{where}: figure: must be one of {', '.join(SWEEP_FIGURES)}, got {figure!r}")
    if source != "preset":
        for key in ("steps", "actions"):
            if key in table:
                raise TalkError(f"{where}: {key}: only a preset scene trains, so only it takes {key}")
        return Scene(title, caption, notes, **{source: value}, figure=figure)
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
