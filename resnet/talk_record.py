"""A talk's preset scenes recorded ahead (on a GPU box the night before) and found again to replay offline.

A preset scene's twins are recorded as a pair with its scripted actions carried out at their steps.
The talk file is never rewritten: a scene names a preset, and replays the newest finished pair whose
config, steps and shortcut events match it, wherever and on whatever device it was trained.
"""

from __future__ import annotations

from collections.abc import Callable

from resnet.presets import PRESETS
from resnet.recording import record
from resnet.store import RunInfo, RunStore, new_key
from resnet.talks import Scene, Talk
from resnet.trainer import TrainConfig, Trainer, twin_trainers

Progress = Callable[[int, int, str], None]  # (scene number, step, what)


def scene_config(scene: Scene, *, device: str = "auto") -> TrainConfig:
    """The config a preset scene's twins train from (the residual twin's)."""
    return PRESETS[scene.preset].config.replace(residual=True, device=device)


def _same(a: TrainConfig, b: TrainConfig) -> bool:
    """Equal configs but for the device: a run recorded on CUDA replays on a laptop."""
    return a.replace(device="auto") == b.replace(device="auto")


def recorded_pair(store: RunStore, scene: Scene) -> tuple[RunInfo, RunInfo] | None:
    """(plain, residual) of the newest finished pair recorded for a preset scene, or None."""
    if scene.preset is None:
        return None
    wanted = scene_config(scene)
    steps = scene.total_steps
    events = scene.events()
    pairs: dict[str, dict[bool, RunInfo]] = {}
    for info in store.runs():
        if (info.pair is None or info.status != "finished" or info.steps != steps
                or not _same(info.config, wanted.replace(residual=info.residual))):
            continue
        pairs.setdefault(info.pair, {}).setdefault(info.residual, info)
    for twins in sorted(pairs.values(), key=lambda t: -max(i.id for i in t.values())):
        if len(twins) == 2 and store.events(twins[True].id) == events:
            return twins[False], twins[True]
    return None


def record_scene(store: RunStore, scene: Scene, *, device: str = "auto", name: str | None = None,
                 on_step: Callable[[str, int], None] | None = None) -> tuple[int, int]:
    """Train a preset scene's twins with its actions at their steps, recorded as one pair; (plain, residual) ids."""
    steps = scene.total_steps
    plain, residual = twin_trainers(scene_config(scene, device=device), total_steps=steps)
    actions = {}
    for action in scene.actions:
        actions.setdefault(action.at, []).append(action)
    key = new_key()

    def act(role: str) -> Callable[[Trainer], None]:
        def after_step(trainer: Trainer) -> None:
            # The live page switches a shortcut once the view's step passes `at`; the record is the same.
            if role == "residual":
                for action in actions.get(trainer.step_count, []):
                    for block in (action.blocks or (None,)):
                        trainer.set_shortcut(block, action.on)
            if on_step is not None:
                on_step(role, trainer.step_count)
        return after_step

    try:
        ids = [record(store, t, name=name, pair=key, on_step=act(role))
               for role, t in (("plain", plain), ("residual", residual))]
    finally:
        plain.close()
        residual.close()
    return ids[0], ids[1]


def record_talk(talk: Talk, store: RunStore, *, device: str = "auto", on_progress: Progress | None = None,
                skip_recorded: bool = True) -> dict[int, tuple[int, int]]:
    """Record every preset scene of `talk` that the store does not hold yet; {scene number: (plain, residual)}."""
    done: dict[int, tuple[int, int]] = {}
    for number, scene in enumerate(talk.scenes, start=1):
        if scene.preset is None:
            continue
        found = recorded_pair(store, scene) if skip_recorded else None
        if found is not None:
            done[number] = (found[0].id, found[1].id)
            continue

        def report(role: str, step: int, number: int = number) -> None:
            if on_progress is not None:
                on_progress(number, step, role)

        done[number] = record_scene(store, scene, device=device, name=f"{talk.name} {number}", on_step=report)
    return done
