"""A training setup as flat strings (URL query parameters), read back with a warning per bad value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from resnet.data import IMAGE_DATASETS
from resnet.presets import PRESETS, get_preset
from resnet.trainer import MAX_STEPS, ModelSpec, TrainConfig
from resnet.zoo import SWITCHABLE, TORCHVISION_MODELS

CUSTOM = "custom"
DEFAULT_PRESET = "vanishing"
# Query key -> (where it lives, field name, parser). "model" fields go to ModelSpec.
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
KNOBS: dict[str, tuple[str, str, type]] = {
    "family": ("model", "family", str), "depth": ("model", "depth", int), "width": ("model", "width", int),
    "block": ("model", "block", str), "shortcut": ("model", "shortcut", str), "preact": ("model", "preact", bool),
    "norm": ("model", "norm", str), "act": ("model", "act", str), "dataset": ("train", "dataset", str),
    "optimizer": ("train", "optimizer", str), "lr": ("train", "lr", float),
    "momentum": ("train", "momentum", float), "wd": ("train", "weight_decay", float),
    "schedule": ("train", "schedule", str),
    "batch": ("train", "batch_size", int), "seed": ("train", "seed", int),
    # A torchvision model of resnet.zoo, trained against itself with every shortcut off.
    "arch": ("model", "arch", str), "input_size": ("model", "input_size", int),
}


@dataclass
class Setup:
    """A preset name (or "custom"), the configuration, the steps to train, and what was refused."""

    preset: str
    config: TrainConfig
    steps: int
    warnings: list[str] = field(default_factory=list)


def _parse(kind: type, text: str):
    if kind is bool:
        if text.lower() not in _FLAGS:
            raise ValueError("expected true or false")
        return _FLAGS[text.lower()]
    return kind(text)


def _value(config: TrainConfig, key: str):
    where, name, _ = KNOBS[key]
    return getattr(config.model if where == "model" else config, name)


def setup_from_query(params: dict[str, str], *, seed: int | None = None) -> Setup:
    """Read a setup from query parameters; each bad or unknown value falls back with a warning."""
    warnings: list[str] = []
    slug = params.get("preset", DEFAULT_PRESET)
    if slug != CUSTOM and slug not in PRESETS:
        warnings.append(f"unknown preset {slug!r} in the link; using {DEFAULT_PRESET!r} "
                        f"(presets: {', '.join(PRESETS)}, or {CUSTOM})")
        slug = DEFAULT_PRESET
    base = get_preset(DEFAULT_PRESET if slug == CUSTOM else slug)
    config = base.config if seed is None else base.config.replace(seed=seed)
    parsed: dict = {}
    for key, text in params.items():
        if key in ("preset", "steps"):
            continue
        if key not in KNOBS:
            warnings.append(f"ignored unknown setting {key!r} in the link")
            continue
        try:
            parsed[key] = _parse(KNOBS[key][2], text)
        except ValueError as err:
            warnings.append(f"ignored {key}={text!r}: {err}")
    if parsed.get("arch") in TORCHVISION_MODELS and parsed["arch"] not in SWITCHABLE:
        warnings.append(f"ignored arch={parsed.pop('arch')!r}: its skips are concatenations, not shortcut switches, "
                        "so it has no plain twin to train against (the Your model page probes it)")
    if parsed.get("arch") in TORCHVISION_MODELS:  # an arch replaces family, depth and switches: a CNN's defaults
        data = config.dataset if config.dataset in IMAGE_DATASETS else IMAGE_DATASETS[0]
        config = dataclasses.replace(config, model=ModelSpec(), dataset=data)
    config, refused = _apply(config, parsed)
    warnings += [f"ignored {key}={params[key]!r}: {err}" for key, err in refused.items()]
    steps = base.steps
    if "steps" in params:
        try:
            steps = int(params["steps"])
            if not 1 <= steps <= MAX_STEPS:
                raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
        except ValueError as err:
            warnings.append(f"ignored steps={params['steps']!r}: {err}")
            steps = base.steps
    if slug != CUSTOM and (config != base.config.replace(seed=config.seed) or steps != base.steps):
        slug = CUSTOM
    return Setup(slug, config, steps, warnings)


def _apply(config: TrainConfig, values: dict) -> tuple[TrainConfig, dict[str, str]]:
    """Apply query values together; if they do not fit, apply as many as fit, in repeated passes.

    Knobs depend on each other (a CNN needs image data, a depth must suit the block), so a value
    refused in one pass may fit once another has been applied.
    """
    try:
        return config.replace(**{KNOBS[k][1]: v for k, v in values.items()}), {}
    except (ValueError, TypeError):
        pass
    # Choices that decide what the others may be go first: the data, then the family and block.
    first = ("dataset", "family", "block", "arch")
    pending = dict(sorted(values.items(), key=lambda kv: first.index(kv[0]) if kv[0] in first else len(first)))
    refused: dict[str, str] = {}
    while pending:
        refused = {}
        for key, value in pending.items():
            try:
                config = config.replace(**{KNOBS[key][1]: value})
            except (ValueError, TypeError) as err:
                refused[key] = str(err)
        if len(refused) == len(pending):
            break
        pending = {k: pending[k] for k in refused}
    return config, refused


def setup_to_query(setup: Setup) -> dict[str, str]:
    """The query parameters that reopen `setup` (the whole configuration, not only the preset's name)."""
    out = {"preset": setup.preset}
    for key in KNOBS:
        v = _value(setup.config, key)
        out[key] = str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)
    out["steps"] = str(setup.steps)
    return out

