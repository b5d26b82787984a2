"""A talk recorded ahead (on a GPU box the night before) and found again to replay offline.

A preset scene's twins are recorded as a pair with its scripted actions carried out at their steps;
a sweep scene's grid is trained as a sweep (resnet/talk_sweeps.py); an analysis scene's result (a
lesion study, a loss landscape, attributions, shattered gradients) is computed and kept
(resnet/talk_analyses.py). The talk file is never rewritten: a scene names a preset,
a grid or an analysis, and replays the newest finished recording that matches it, wherever and on
whatever device it was made.
"""

from __future__ import annotations

from collections.abc import Callable

from resnet.presets import PRESETS
from resnet.recording import record
from resnet.store import RunInfo, RunStore, new_key
from resnet.talk_analyses import record_analysis, recorded_analysis
from resnet.talk_sweeps import record_sweep, recorded_sweep
from resnet.talks import Scene, SweepSpec, Talk
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


def record_talk(talk: Talk, store: RunStore, *, device: str = "auto", jobs: int | None = None,
                on_progress: Progress | None = None, on_scene: Callable[[int, str], None] | None = None,
                skip_recorded: bool = True) -> dict[int, str]:
    """Record every scene of `talk` the store does not hold yet: a preset's twins, a sweep's grid (on `jobs`
    worker processes; 1: in this process), an analysis result; {scene number: what it replays, in words}."""
    done: dict[int, str] = {}
    for number, scene in enumerate(talk.scenes, start=1):
        if scene.preset is not None:
            found = recorded_pair(store, scene) if skip_recorded else None
            if found is None:
                if on_scene is not None:
                    on_scene(number, f"training {scene.preset} twins")

                def report(role: str, step: int, number: int = number) -> None:
                    if on_progress is not None:
                        on_progress(number, step, role)

                ids = record_scene(store, scene, device=device, name=f"{talk.name} {number}", on_step=report)
            else:
                ids = (found[0].id, found[1].id)
            done[number] = f"runs {ids[0]} (plain) and {ids[1]} (residual)"
        elif isinstance(scene.sweep, SweepSpec):
            tag = recorded_sweep(store, scene.sweep) if skip_recorded else None
            if tag is None:
                if on_scene is not None:
                    on_scene(number, f"training the sweep: {scene.sweep.describe()}")
                tag = record_sweep(store, scene.sweep, device=device, jobs=jobs)
            done[number] = f"sweep '{tag}'"
        elif scene.analysis is not None:
            if not skip_recorded or recorded_analysis(store, scene.analysis) is None:
                if on_scene is not None:
                    on_scene(number, f"computing the {scene.analysis.describe()}")
                record_analysis(store, scene.analysis, device=device)
            done[number] = f"the {scene.analysis.describe()}"
    return done
