"""A talk's analysis scenes: the recorded result a scene replays, and the analysis `talk record` computes for it.

A scene names its pair by an analysis preset (the newest finished pair of that preset's config and
steps, whatever device trained it, that holds the result) or by a stored pair's key; a study that
trains its own nets (shattered gradients) names only its settings, and is found under the study key.
The result is read from the run store's analyses table: nothing is computed when the talk replays it.
"""

from __future__ import annotations

from resnet.analysis.jobs import PairSource, attributions, landscape, lesion, shattered
from resnet.analysis.pairs import preset_config
from resnet.analysis.records import RECORDED_KINDS, STUDY_KEY, STUDY_KINDS
from resnet.analysis.results import Analysis, ShatteredResult
from resnet.store import RunInfo, RunStore, StoreError
from resnet.talks import AnalysisSpec


def scene_pairs(store: RunStore, spec: AnalysisSpec) -> list[tuple[RunInfo, RunInfo]]:
    """(plain, residual) of every finished pair the scene may show, newest first."""
    if spec.pair is not None:
        return [store.pair(spec.pair)]  # a StoreError names the key when it is not there
    config, steps = preset_config(spec.preset, seed=spec.seed)
    wanted = config.replace(device="auto")
    pairs: dict[str, dict[bool, RunInfo]] = {}
    for info in store.runs():  # newest first
        if (info.pair is not None and info.status == "finished" and info.steps == info.total_steps == steps
                and info.config.replace(device="auto") == wanted.replace(residual=info.residual)):
            pairs.setdefault(info.pair, {}).setdefault(info.residual, info)
    return [(twins[False], twins[True]) for twins in pairs.values() if len(twins) == 2]


PAIR_JOBS = {"lesion": lesion, "landscape": landscape, "attributions": attributions}  # kind -> its job


def recorded_analysis(store: RunStore, spec: AnalysisSpec) -> Analysis | ShatteredResult | None:
    """The newest result kept for the scene's pair (or study), kind and settings; None if none is (a StoreError
    if damaged)."""
    if spec.kind not in RECORDED_KINDS:
        return None
    if spec.kind in STUDY_KINDS:
        return store.analysis(STUDY_KEY, spec.kind, spec.params)
    for plain, _ in scene_pairs(store, spec):
        found = store.analysis(plain.pair, spec.kind, spec.params)
        if found is not None:
            return found
    return None


def record_analysis(store: RunStore, spec: AnalysisSpec, *, device: str = "auto") -> Analysis | ShatteredResult:
    """Compute the scene's analysis in this process (training a preset's pair first if the store has none, or a
    study's own nets) and keep it in `store`."""
    if spec.kind not in RECORDED_KINDS:
        raise ValueError(f"{spec.kind} results are not recorded; recorded: {', '.join(RECORDED_KINDS)}")
    if spec.kind in STUDY_KINDS:
        done = shattered(**spec.settings, device=device, store=str(store.path))
    else:
        done = PAIR_JOBS[spec.kind](_source(store, spec, device), **spec.settings)
    if recorded_analysis(store, spec) is None:
        raise StoreError(f"the {spec.describe()} was computed but could not be kept in {store.path}")
    return done


def _source(store: RunStore, spec: AnalysisSpec, device: str) -> PairSource:
    """The pair a scene's analysis runs on: a stored pair by its key, or its preset's (trained if need be)."""
    if spec.pair is not None:
        plain, residual = store.pair(spec.pair)
        return PairSource(str(store.path), plain_id=plain.id, residual_id=residual.id, device=device, seed=spec.seed)
    return PairSource(str(store.path), preset=spec.preset, device=device, seed=spec.seed)
