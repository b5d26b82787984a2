"""The analyses as jobs: one function per analysis page, called in a worker process by the job server.

Each takes plain picklable arguments (a `PairSource`: a preset and seed, or two stored runs, and
the store's path; then the analysis's own settings), obtains the pair in the worker and returns
numpy-only results, so no net or tensor crosses back to the page. A preset's pair is trained once
and recorded in the run store as a pair; every later job of the same preset, seed and device
loads it from there. Each result is kept in the run store too, so a talk replays it: a pair's
under its pair's key, a shattered-gradients study (which trains its own nets) under the study key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from resnet.analysis.attributions import block_attributions, input_attributions
from resnet.analysis.landscape import landscape_1d, landscape_2d
from resnet.analysis.lesion import lesion_study
from resnet.analysis.pairs import (
    PRESETS,
    Pair,
    Progress,
    pair_from_store,
    preset_config,
    record_twin_pair,
    recorded_pair,
)
from resnet.analysis.records import STUDY_KEY, attributions_params, landscape_params, lesion_params, shattered_params
from resnet.analysis.results import Analysis, Attributions, Landscapes, LesionResult, PairSummary, ShatteredResult
from resnet.analysis.shattered import shattered_study
from resnet.checks import choice, int_in
from resnet.devices import DEVICES, resolve_device
from resnet.store import RunStore, StoreError

TRAINING_SHARE = 0.8  # of the progress bar while a preset's pair trains first: training dominates a job


@dataclass(frozen=True)
class PairSource:
    """Which pair to analyse, as plain values: a preset (trained once, then read from `store`) or two stored runs."""

    store: str  # the run store's path: where a preset's pair is looked up and recorded
    preset: str | None = None
    plain_id: int | None = None
    residual_id: int | None = None
    device: str = "auto"
    seed: int = 0  # a preset's training seed; the analyses' random draws use it too

    def __post_init__(self) -> None:
        if not isinstance(self.store, str) or not self.store:
            raise ValueError("the run store's path must be a non-empty string")
        if (self.preset is None) == (self.plain_id is None or self.residual_id is None):
            raise ValueError("choose a preset, or a plain and a residual run of the store (not both)")
        if self.preset is not None:
            choice("preset", self.preset, tuple(PRESETS))
        choice("device", self.device, DEVICES)
        int_in("seed", self.seed, 0, 2**31 - 1)

    @property
    def key(self) -> tuple:
        """A hashable identity of the pair (and draws) this source yields, for caching results."""
        return (self.preset, self.store, self.plain_id, self.residual_id, self.device, self.seed)


def _span(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """`progress` with its fractions mapped onto [lo, hi] (None stays None)."""
    if progress is None:
        return None
    return lambda fraction, text: progress(lo + (hi - lo) * fraction, text)


def obtain_pair(source: PairSource, progress: Progress | None = None) -> tuple[Pair, PairSummary, Progress | None]:
    """The pair `source` names, its summary, and the progress left for the analysis.

    A preset's pair is read from the store when a finished one of the same config, seed and device
    is there, else trained and recorded there first.
    """
    store = RunStore(source.store)
    rest = progress
    if source.preset is None:
        plain_id, residual_id = source.plain_id, source.residual_id
    else:
        config, steps = preset_config(source.preset, seed=source.seed, device=source.device)
        device = str(resolve_device(source.device))
        found = recorded_pair(store, config, steps, device)
        if found is None:
            found = record_twin_pair(store, config, steps, name=source.preset,
                                     on_progress=_span(progress, 0.0, TRAINING_SHARE))
            rest = _span(progress, TRAINING_SHARE, 1.0)
        plain_id, residual_id = found
    pair = pair_from_store(store, plain_id, residual_id, device=source.device)
    if source.preset is not None:
        pair = replace(pair, source=f"{source.preset}, seed {source.seed}, trained on {pair.data.test_x.device.type} "
                                    f"(runs {plain_id} and {residual_id} of the run store)")
    data = pair.data
    summary = PairSummary(pair.source, pair.test_error, len(data.test_y), data.name, data.is_image,
                          data.num_classes, pair.config.model.depth, (plain_id, residual_id))
    return pair, summary, rest


def lesion(source: PairSource, *, draws: int = 10, progress: Progress | None = None) -> Analysis[LesionResult]:
    """The lesion study of `source`'s pair (`draws` random draws per number of deleted blocks), kept in the
    run store when the pair was recorded as one, so a talk replays it."""
    pair, summary, rest = obtain_pair(source, progress)
    done = Analysis(summary, lesion_study(pair, draws=draws, seed=source.seed, on_progress=rest))
    keep(source, done, "lesion", lesion_params(draws, source.seed))
    return done


def keep(source: PairSource, analysis: Analysis, kind: str, params: dict) -> None:
    """Store `analysis` under its pair's key when both runs share one (two unrelated runs have none)."""
    store = RunStore(source.store)
    plain, residual = (store.run(i) for i in analysis.pair.run_ids)
    if plain.pair is not None and plain.pair == residual.pair:
        # A store it cannot write to, or a result it cannot keep (a NaN loss): the page still gets its result.
        with contextlib.suppress(StoreError, ValueError):
            store.save_analysis(plain.pair, kind, params, analysis)


def keep_study(store: str, kind: str, params: dict, result: ShatteredResult) -> None:
    """Store the result of a study that trains its own nets under the study key (no pair)."""
    with contextlib.suppress(StoreError, ValueError):  # as `keep`: the page gets its result all the same
        RunStore(store).save_analysis(STUDY_KEY, kind, params, result)


def attributions(source: PairSource, *, samples: int = 32, n_steps: int = 32, indices: Sequence[int] = (0, 1, 2, 3),
                 progress: Progress | None = None) -> Analysis[Attributions]:
    """Conductance through each block, and pixel maps of the test images at `indices` when the data are images."""
    pair, summary, rest = obtain_pair(source, progress)
    blocks = block_attributions(pair, samples=samples, n_steps=n_steps, on_progress=_span(rest, 0.0, 0.9))
    inputs = None
    if pair.data.is_image:
        if rest is not None:
            rest(0.9, "integrated gradients and saliency of the chosen images")
        inputs = input_attributions(pair, list(indices), n_steps=max(n_steps, 64))
    done = Analysis(summary, Attributions(blocks, inputs))
    keep(source, done, "attributions", attributions_params(samples, n_steps, indices, source.seed))
    return done


def landscape(source: PairSource, *, resolution: int = 21, samples: int = 128, span: float = 1.0,
              points_1d: int = 51, progress: Progress | None = None) -> Analysis[Landscapes]:
    """The 2-D loss landscape around the pair's weights (row by row) and the 1-D slice along its first direction,
    kept in the run store when the pair was recorded as one."""
    pair, summary, rest = obtain_pair(source, progress)
    rows = _span(rest, 0.0, 0.9)
    for grid in landscape_2d(pair, resolution=resolution, samples=samples, span=span, seed=source.seed):
        if rows is not None:
            rows(grid.rows_done / len(grid.betas), f"grid row {grid.rows_done} of {len(grid.betas)}")
    if rest is not None:
        rest(0.9, "the 1-D slice")
    line = landscape_1d(pair, resolution=points_1d, samples=samples, span=span, seed=source.seed)
    done = Analysis(summary, Landscapes(grid, line))
    keep(source, done, "landscape", landscape_params(resolution, samples, span, points_1d, source.seed))
    return done


def shattered(*, depths: Sequence[int], width: int, norm: str, points: int, seeds: int, steps: int,
              device: str = "auto", store: str | None = None, progress: Progress | None = None) -> ShatteredResult:
    """The shattered-gradients study on `device` (resolved here, in the worker), kept in the run store at
    `store` when one is given, so a talk replays it."""
    done = shattered_study(tuple(depths), width=width, norm=norm, points=points, seeds=seeds, steps=steps,
                           device=str(resolve_device(device)), on_progress=progress)
    if store is not None:
        keep_study(store, "shattered", shattered_params(depths, width, norm, points, seeds, steps), done)
    return done
