"""The analyses as jobs: called directly, and in worker processes of a real JobServer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet.analysis import jobs
from resnet.analysis.jobs import Analysis, PairSource
from resnet.analysis.pairs import PRESETS, PairPreset
from resnet.analysis.records import STUDY_KEY, attributions_params, shattered_params
from resnet.jobs import JobServer
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig
from tests.helpers import pid_running, record_small_pair, wait_for

TINY = PairPreset("CNN-8 on digits, width 4, 20 steps",
                  TrainConfig(model=ModelSpec(family="cnn", depth=8, width=4), dataset="digits"), 20)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, int]]]:
    """A store holding a small CNN pair (digits) and a small MLP pair (spirals)."""
    path = tmp_path_factory.mktemp("analysis-jobs") / "runs.db"
    store = RunStore(path)
    return path, {"cnn": record_small_pair(store), "mlp": record_small_pair(store, family="mlp", steps=20)}


def source(stored, family: str = "cnn", **changes) -> PairSource:
    path, ids = stored
    plain, residual = ids[family]
    return dataclasses.replace(PairSource(str(path), plain_id=plain, residual_id=residual, device="cpu"), **changes)


def tensors_in(value) -> list[str]:
    """Paths to every torch tensor or module inside a result (it must hold plain numpy data only)."""
    if isinstance(value, torch.Tensor | torch.nn.Module):
        return [type(value).__name__]
    if dataclasses.is_dataclass(value):
        return [f"{f.name}.{p}" for f in dataclasses.fields(value) for p in tensors_in(getattr(value, f.name))]
    if isinstance(value, dict):
        return [f"{k}.{p}" for k, v in value.items() for p in tensors_in(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in tensors_in(v)]
    return []


def test_a_preset_pair_is_trained_once_recorded_as_a_pair_then_loaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(PRESETS, "tiny", TINY)
    choice = PairSource(str(tmp_path / "runs.db"), preset="tiny", device="cpu", seed=3)
    seen: list[tuple[float, str]] = []
    first = jobs.lesion(choice, draws=2, progress=lambda f, t: seen.append((f, t)))
    assert any("training the residual net" in t for _, t in seen)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] <= 1
    store = RunStore(tmp_path / "runs.db")
    runs = store.runs()
    assert len(runs) == 2 and {r.status for r in runs} == {"finished"} and runs[0].pair == runs[1].pair
    plain, residual = store.pair(runs[0].pair)
    assert first.pair.run_ids == (plain.id, residual.id) and plain.config.seed == 3 and plain.steps == 20
    assert "tiny, seed 3" in first.pair.source and store.state_dict(residual.id)

    seen.clear()
    again = jobs.lesion(choice, draws=2, progress=lambda f, t: seen.append((f, t)))
    assert len(store.runs()) == 2, "the pair was trained again instead of loaded from the store"
    assert not any("training" in t for _, t in seen)
    assert again.pair == first.pair
    np.testing.assert_array_equal(again.result.random["residual"], first.result.random["residual"])

    other_seed = jobs.lesion(dataclasses.replace(choice, seed=4), draws=2)
    assert len(store.runs()) == 4 and other_seed.pair.run_ids != first.pair.run_ids


def test_each_analysis_returns_numpy_results_with_its_pair(stored) -> None:
    cnn = source(stored)
    lesion = jobs.lesion(cnn, draws=2)
    assert isinstance(lesion, Analysis) and lesion.pair.run_ids == stored[1]["cnn"]
    assert lesion.pair.dataset == "digits" and lesion.pair.is_image and lesion.pair.num_classes == 10
    assert lesion.pair.depth == 8 and lesion.pair.test_samples > 0 and "of the run store" in lesion.pair.source
    attr = jobs.attributions(cnn, samples=4, n_steps=8, indices=(0, 2))
    assert attr.result.inputs.indices == [0, 2] and attr.result.blocks.samples == 4
    land = jobs.landscape(cnn, resolution=5, samples=32, span=0.5, points_1d=11)
    assert land.result.grid.complete and land.result.grid.loss["plain"].shape == (5, 5)
    assert land.result.line.loss["residual"].shape == (1, 11)
    shattered = jobs.shattered(depths=(2, 3), width=8, norm="batch", points=64, seeds=1, steps=0, device="auto")
    assert shattered.depths == [2, 3]
    for result in (lesion, attr, land, shattered):
        assert not tensors_in(result), tensors_in(result)


def test_attributions_and_shattered_studies_are_kept_for_a_talk(stored) -> None:
    path, ids = stored
    store = RunStore(path)
    pair = store.run(ids["cnn"][0]).pair
    done = jobs.attributions(source(stored), samples=4, n_steps=4, indices=(1,))
    kept = store.analysis(pair, "attributions", attributions_params(4, 4, (1,), 0))
    assert kept is not None and kept.pair.run_ids == ids["cnn"] and kept.result.inputs.indices == [1]
    np.testing.assert_allclose(kept.result.blocks.share["plain"], done.result.blocks.share["plain"], rtol=1e-6)
    params = shattered_params((3, 2), 8, "none", 64, 1, 0)
    assert store.analysis(STUDY_KEY, "shattered", params) is None
    jobs.shattered(depths=(3, 2), width=8, norm="none", points=64, seeds=1, steps=0)  # no store: nothing kept
    assert store.analysis(STUDY_KEY, "shattered", params) is None
    study = jobs.shattered(depths=(3, 2), width=8, norm="none", points=64, seeds=1, steps=0, store=str(path))
    kept = store.analysis(STUDY_KEY, "shattered", params)
    assert kept.depths == study.depths == [2, 3]
    np.testing.assert_allclose(kept.lag1("init", "plain"), study.lag1("init", "plain"), rtol=1e-6, atol=1e-7)


def test_a_pair_without_images_gets_block_shares_only(stored) -> None:
    attr = jobs.attributions(source(stored, "mlp"), samples=4, n_steps=8)
    assert attr.result.inputs is None and attr.pair.dataset == "spirals" and not attr.pair.is_image
    assert set(attr.result.blocks.share) == {"plain", "residual"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"plain_id": None}, "choose a preset, or a plain and a residual run"),
    ({"preset": "cnn-20"}, "not both"),
    ({"device": "tpu"}, "device"),
    ({"store": ""}, "run store's path"),
])
def test_a_pair_source_names_what_is_wrong(stored, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        source(stored, **changes)


def test_jobs_run_in_worker_processes_and_say_why_they_failed(stored) -> None:
    server = JobServer(cap=1, limit=4)
    pids = []
    try:
        good = server.call("resnet.analysis.jobs:lesion", needs_viewer=True, source=source(stored), draws=2)
        # Two runs of different depths are no pair: the worker's error comes back as one line.
        path, ids = stored
        bad = server.call("resnet.analysis.jobs:lesion", needs_viewer=True,
                          source=PairSource(str(path), plain_id=ids["cnn"][0], residual_id=ids["mlp"][1],
                                            device="cpu"))
        assert bad.state == "queued" and bad.place == 1  # one slot: it waits for the first
        for job in (good, bad):
            job.heartbeat()
            assert wait_for(lambda job=job: (job.heartbeat(), not job.alive)[1], 120), (job.state, job.message)
            pids.append(job.pid)
        assert good.state == "done" and good.fraction == 1.0, good.message
        direct = jobs.lesion(source(stored), draws=2)
        assert good.result.pair == direct.pair
        np.testing.assert_array_equal(good.result.result.random["plain"], direct.result.random["plain"])
        assert bad.state == "failed" and "not twins" in bad.message and "\n" not in bad.message
    finally:
        server.shutdown()
    assert not server.jobs() and all(pid is not None and not pid_running(pid) for pid in pids)
