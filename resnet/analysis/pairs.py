"""A trained plain/residual pair to analyse: a small CPU preset's twins, trained once and recorded in the run
store as a pair, or any two stored twins, loaded from their final weights.

A pair is read-only once made: its parameters are frozen and both nets stay in eval mode (BN uses
the trained running statistics), so one copy can serve every view. Analyses that hook or
reparametrise modules work on their own copy (`working_copy`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from resnet.checks import choice
from resnet.data import Dataset, error_on_test_set
from resnet.devices import resolve_device
from resnet.nets import ResidualNet
from resnet.recording import record
from resnet.store import RunInfo, RunStore, new_key
from resnet.trainer import TrainConfig, Trainer, cached_dataset, twin_trainers

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PairPreset:
    """A pair small enough to train on a laptop CPU while the page waits."""

    label: str
    config: TrainConfig
    steps: int


# Digits (offline, 1x16x16) at width 8 with the paper's recipe (SGD 0.1, momentum 0.9, wd 1e-4,
# batch 128): the setting in which degradation is measured. Times: the twins one after the other in
# one worker, one torch thread, measured on an idle 2-core x86 CPU (218 and 540 ms a twin step).
_DIGITS = TrainConfig(dataset="digits", batch_size=128, lr=0.1, momentum=0.9, weight_decay=1e-4)
PRESETS: dict[str, PairPreset] = {
    "cnn-20": PairPreset("CNN-20 on digits, width 8, 300 steps (about 1 min on one CPU core)",
                         _DIGITS.replace(family="cnn", depth=20, width=8), 300),
    "cnn-56": PairPreset("CNN-56 on digits, width 8, 400 steps (about 3.5 min on one CPU core)",
                         _DIGITS.replace(family="cnn", depth=56, width=8), 400),
}
DEFAULT_PRESET = "cnn-20"


@dataclass(frozen=True)
class Pair:
    """A plain net and its residual twin, trained on identical terms, with the data they saw."""

    plain: ResidualNet
    residual: ResidualNet
    data: Dataset
    config: TrainConfig  # the residual net's config; the plain twin differs only in `residual`
    source: str  # where the pair came from, in words
    test_error: tuple[float, float]  # (plain, residual) on the full test set
    fingerprint: str  # digest of both nets' weights and buffers and the data set's name

    def nets(self) -> tuple[tuple[str, ResidualNet], tuple[str, ResidualNet]]:
        """(("plain", net), ("residual", net)), in the order every view draws them."""
        return ("plain", self.plain), ("residual", self.residual)

    @property
    def key(self) -> str:
        """A string that identifies the pair, for caching results computed from it."""
        return self.fingerprint


def preset_config(preset: str, *, seed: int = 0, device: str = "auto") -> tuple[TrainConfig, int]:
    """The residual net's config and the steps of a preset's pair (test set scored once, at the end)."""
    choice("preset", preset, tuple(PRESETS))
    p = PRESETS[preset]
    return p.config.replace(seed=seed, device=device, test_every=p.steps), p.steps


def train_twin_pair(config: TrainConfig, steps: int, *, on_progress: Progress | None = None,
                    name: str = "pair") -> Pair:
    """Train `config`'s plain net and residual twin for `steps` steps each and freeze them."""
    config = config.replace(test_every=steps)  # score the test set once, at the end
    plain, residual = twin_trainers(config, total_steps=steps)
    try:
        for done_before, (twin, trainer) in enumerate((("plain", plain), ("residual", residual))):
            report = _reporter(twin, done_before, steps, on_progress)
            while trainer.step():
                report(trainer)
            _check_finished(twin, trainer, name)
    finally:
        plain.close()
        residual.close()
    return freeze_pair(plain.model, residual.model, residual.data, config,
                       source=f"{name}, seed {config.seed}, trained here on {plain.device.type}")


def record_twin_pair(store: RunStore, config: TrainConfig, steps: int, *, name: str = "pair",
                     on_progress: Progress | None = None) -> tuple[int, int]:
    """Train `config`'s twins for `steps` steps, recorded in `store` as one pair; (plain id, residual id)."""
    key = new_key()
    plain, residual = twin_trainers(config, total_steps=steps)
    ids = []
    try:
        for done_before, (twin, trainer) in enumerate((("plain", plain), ("residual", residual))):
            ids.append(record(store, trainer, name=name, pair=key,
                              on_step=_reporter(twin, done_before, steps, on_progress)))
            _check_finished(twin, trainer, name)
    finally:
        plain.close()
        residual.close()
    return ids[0], ids[1]


def recorded_pair(store: RunStore, config: TrainConfig, steps: int, device: str) -> tuple[int, int] | None:
    """(plain id, residual id) of the newest finished pair in `store` trained from `config` for `steps`
    steps on `device` ("cpu", "cuda", ...), or None."""
    wanted = {False: config.replace(residual=False), True: config.replace(residual=True)}
    pairs: dict[str, dict[bool, RunInfo]] = {}
    for info in store.runs():
        if (info.pair is not None and info.status == "finished" and info.steps == info.total_steps == steps
                and info.device == device and info.config == wanted[info.residual]):
            pairs.setdefault(info.pair, {}).setdefault(info.residual, info)
    complete = [twins for twins in pairs.values() if len(twins) == 2]
    if not complete:
        return None
    newest = max(complete, key=lambda twins: twins[True].id)
    return newest[False].id, newest[True].id


def _reporter(twin: str, done_before: int, steps: int, on_progress: Progress | None) -> Callable[[Trainer], None]:
    """A per-step callback reporting the pair's progress (twins trained one after the other) every 10 steps."""
    def report(trainer: Trainer) -> None:
        if on_progress is not None and trainer.step_count % 10 == 0:
            fraction = (done_before * steps + trainer.step_count) / (2 * steps)
            on_progress(fraction, f"training the {twin} net: step {trainer.step_count} of {steps}")
    return report


def _check_finished(twin: str, trainer: Trainer, name: str) -> None:
    if trainer.status != "finished":
        raise ValueError(f"the {twin} net of {name} did not finish training: {trainer.message}")


def stored_candidates(store: RunStore) -> tuple[list[RunInfo], list[RunInfo]]:
    """(plain runs, residual runs) of the store that ended with weights kept, newest first."""
    # Finished runs, and runs stopped after a step, keep their final weights; so do imported checkpoints (0 steps).
    kept = store.runs_with_weights()
    ended = [r for r in store.runs() if r.status in ("finished", "stopped") and r.id in kept]
    return [r for r in ended if not r.residual], [r for r in ended if r.residual]


def pair_from_store(store: RunStore, plain_id: int, residual_id: int, *, device: str = "auto") -> Pair:
    """Two stored runs' final weights as a pair; a clear ValueError unless they are twins with weights."""
    plain_info, residual_info = store.run(plain_id), store.run(residual_id)
    if plain_info.residual:
        raise ValueError(f"run {plain_id} ({plain_info.name}) has shortcuts; choose a plain run as the plain net")
    if not residual_info.residual:
        raise ValueError(f"run {residual_id} ({residual_info.name}) is plain; choose a residual run as its twin")
    differ = _spec_differences(plain_info, residual_info)
    if differ:
        raise ValueError(f"runs {plain_id} and {residual_id} are not twins: they differ in {differ}")
    plain, residual = store.load_model(plain_id), store.load_model(residual_id)
    dev = resolve_device(device)
    config = residual_info.config
    data = cached_dataset(config.dataset, str(dev), config.data_root, config.download, **config.model.data_shape())
    if data.sample_shape != tuple(residual_info.sample_shape):
        raise ValueError(f"run {residual_id} saw inputs of shape {tuple(residual_info.sample_shape)}, but "
                         f"{config.dataset} gives {data.sample_shape} here")
    source = f"runs {plain_id} ({plain_info.name}) and {residual_id} ({residual_info.name}) of the run store"
    return freeze_pair(plain.to(dev), residual.to(dev), data, config, source=source)


def _spec_differences(plain: RunInfo, residual: RunInfo) -> str:
    """The model and data fields two runs disagree on (shortcuts and `residual` aside), in words."""
    a, b = plain.config, residual.config
    # A plain net has no shortcuts, so its shortcut option means nothing.
    spec_a = dataclasses.replace(a.model, residual=True, shortcut=b.model.shortcut)
    fields = [f.name for f in dataclasses.fields(spec_a) if getattr(spec_a, f.name) != getattr(b.model, f.name)]
    if a.dataset != b.dataset:
        fields.append("dataset")
    return ", ".join(f"{f} ({getattr(spec_a, f, a.dataset)} vs {getattr(b.model, f, b.dataset)})" for f in fields)


def freeze_pair(plain: ResidualNet, residual: ResidualNet, data: Dataset, config: TrainConfig, *,
                source: str) -> Pair:
    """Check that two nets are twins, put both in eval mode with frozen weights, and score them."""
    if any(plain.shortcuts()) or not residual.residual:  # a zoo net's plain twin: every shortcut switched off
        raise ValueError("a pair needs a plain net (no shortcuts) and a residual net, in that order")
    check_twins(plain, residual)
    errors = []
    digest = hashlib.sha256(data.name.encode())
    for net in (plain, residual):
        net.eval().requires_grad_(False)
        errors.append(error_on_test_set(net, data))
        for name, tensor in net.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return Pair(plain, residual, data, config.replace(residual=True), source, (errors[0], errors[1]),
                digest.hexdigest()[:16])


def check_twins(plain: ResidualNet, residual: ResidualNet) -> None:
    """Raise a ValueError unless the two nets have the same layers of the same shapes (shortcuts aside)."""
    if len(plain.blocks) != len(residual.blocks):
        raise ValueError(f"the nets are not twins: {len(plain.blocks)} blocks vs {len(residual.blocks)}")
    mine = {k: v.shape for k, v in plain.state_dict().items()}
    theirs = {k: v.shape for k, v in residual.state_dict().items() if ".shortcut." not in k}
    differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differ:
        raise ValueError(f"the nets are not twins: {len(differ)} tensors differ in shape, e.g. {differ[0]!r}")


@torch.no_grad()
def working_copy(net: ResidualNet) -> ResidualNet:
    """A private copy of a frozen net, for analyses that hook or reparametrise modules."""
    return copy.deepcopy(net)
