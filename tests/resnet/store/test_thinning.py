"""Thinning: the first steps stay exact, then each window keeps its true mean, minimum and maximum."""

from __future__ import annotations

import numpy as np
import pytest

from resnet.probes import STATS, ProbeHistory
from resnet.recording import record
from resnet.store import RunStore
from resnet.store.thinning import THIN_AFTER, Thinner, window_for
from tests.resnet.store.helpers import bare_run, tiny_trainer


def random_history(steps: np.ndarray, blocks: int = 3, layers: int = 5, seed: int = 0) -> ProbeHistory:
    rng = np.random.default_rng(seed)
    stats = {s: rng.lognormal(size=(len(steps), blocks)).astype(np.float32) for s in STATS}
    return ProbeHistory(names=[f"block{i}" for i in range(blocks)], layer_names=[f"l{i}" for i in range(layers)],
                        steps=np.asarray(steps, np.int64), **stats,
                        layer_grad_norm=rng.lognormal(size=(len(steps), layers)).astype(np.float32))


def part(h: ProbeHistory, sl: slice) -> ProbeHistory:
    return ProbeHistory(names=h.names, layer_names=h.layer_names, steps=h.steps[sl],
                        **{s: getattr(h, s)[sl] for s in (*STATS, "layer_grad_norm")})


BATCHES = [1, 7, 100, 333, 1, 64, 500, 63, 1000, 431]  # 2,500 steps, batch edges off the window edges


def test_window_width_follows_the_run_length() -> None:
    assert [window_for(n) for n in (1, 1000, 1001, 5000, 64_000, 100_000)] == [1, 1, 2, 5, 64, 100]


def test_thinner_keeps_the_first_steps_exact_and_each_window_true() -> None:
    whole = random_history(np.arange(2500))
    thinner, start, stored = Thinner(64), 0, {}
    for n in BATCHES:
        rows = thinner.add(part(whole, slice(start, start + n)))
        start += n
        for i, step in enumerate(rows.steps.tolist()):  # the store keeps the last row written at a step
            stored[step] = (rows.spans[i], rows.block_mean[i], rows.block_min[i], rows.block_max[i],
                            rows.layer_mean[i], rows.layer_min[i], rows.layer_max[i])
    blocks = np.stack([getattr(whole, s) for s in STATS], axis=2).astype(np.float64)  # (S, B, 4)
    layers = whole.layer_grad_norm.astype(np.float64)
    for step in range(1, THIN_AFTER + 1):  # exact rows, step for step
        span, mean, lo, hi, lmean, _, _ = stored[step]
        assert span == 1
        np.testing.assert_array_equal(mean, blocks[step - 1])
        np.testing.assert_array_equal(lmean, layers[step - 1])
    windows = sorted(s for s in stored if s > THIN_AFTER)
    assert windows == list(range(THIN_AFTER + 1, 2501, 64))
    for first in windows:
        sl = slice(first - 1, min(first - 1 + 64, 2500))
        span, mean, lo, hi, lmean, llo, lhi = stored[first]
        assert span == sl.stop - sl.start
        np.testing.assert_allclose(mean, blocks[sl].mean(0), rtol=1e-12)
        np.testing.assert_array_equal(lo, blocks[sl].min(0))
        np.testing.assert_array_equal(hi, blocks[sl].max(0))
        np.testing.assert_allclose(lmean, layers[sl].mean(0), rtol=1e-12)
        np.testing.assert_array_equal(llo, layers[sl].min(0))
        np.testing.assert_array_equal(lhi, layers[sl].max(0))


@pytest.mark.parametrize("reduce", ["mean", "min", "max"])
def test_the_store_reads_back_window_for_window(reduce: str) -> None:
    store = RunStore()
    run_id = bare_run(store, total=64_000)
    whole = random_history(np.arange(2500), seed=1)
    thinner, start = Thinner(window_for(64_000)), 0
    for n in BATCHES:
        store.append(run_id, rows=thinner.add(part(whole, slice(start, start + n))))
        start += n
    h = store.history(run_id, max_points=10**6, reduce=reduce)
    windows = np.arange(THIN_AFTER + 1, 2501, 64)
    np.testing.assert_array_equal(h.steps, np.r_[np.arange(1, THIN_AFTER + 1), windows])
    assert store.thinned_after(run_id) == THIN_AFTER and store.snapshot(run_id).thinned_after == THIN_AFTER
    fold = {"mean": np.mean, "min": np.min, "max": np.max}[reduce]
    expect = [whole.grad_norm[s - 1] for s in range(1, THIN_AFTER + 1)]
    expect += [fold(whole.grad_norm[s - 1 : s - 1 + 64].astype(np.float64), axis=0) for s in windows]
    np.testing.assert_allclose(h.grad_norm, np.array(expect), rtol=1e-6)
    expect = [fold(whole.layer_grad_norm[s - 1 : s - 1 + 64].astype(np.float64), axis=0) for s in windows]
    np.testing.assert_allclose(h.layer_grad_norm[THIN_AFTER:], np.array(expect), rtol=1e-6)
    assert len(store.history(run_id)) <= 1001  # the views still get about a thousand points
    with pytest.raises(ValueError, match="unknown reduce 'median'"):
        store.history(run_id, reduce="median")


@pytest.mark.parametrize("full", [False, True])
def test_the_recorder_thins_a_long_run_unless_told_not_to(full: bool) -> None:
    store = RunStore()
    trainer = tiny_trainer(5000)  # windows of 5 steps after the first 1,000
    run_id = record(store, trainer, should_stop=lambda: trainer.step_count >= 1203, flush_every=97, full=full)
    ref = trainer.probe.history()
    trainer.close()
    h = store.history(run_id, max_points=10**6)
    assert store.run(run_id).steps == 1203 and len(store.metrics(run_id, max_points=10**6).loss) == 1203
    if full:
        assert store.thinned_after(run_id) is None
        np.testing.assert_allclose(h.act_std, ref.act_std, rtol=1e-6)
        return
    assert store.thinned_after(run_id) == THIN_AFTER
    np.testing.assert_array_equal(h.steps, np.r_[np.arange(1, 1001), np.arange(1001, 1204, 5)])
    np.testing.assert_allclose(h.act_std[:1000], ref.act_std[:1000], rtol=1e-6)
    last = ref.act_std[1200:1203].astype(np.float64).mean(0)  # the last window has 3 of its 5 steps
    np.testing.assert_allclose(h.act_std[-1], last, rtol=1e-6)
