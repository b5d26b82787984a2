"""Fig. 1's ordering on offline digits, and the sweep machinery that produces it (recorded in turn)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet.store import RunStore
from resnet.sweeps.grid import SweepGrid, check_sweep, has_local_copy, sweep_datasets
from resnet.sweeps.local import LocalBackend
from resnet.sweeps.results import sweep_rows
from resnet.sweeps.sequential import Progress, run_sweep
from resnet.trainer import TrainConfig, twin_trainer

SMALL = TrainConfig(test_every=5).replace(width=2)


def test_trainer_defaults_are_the_papers_recipe() -> None:
    c = TrainConfig()
    assert (c.optimizer, c.lr, c.momentum, c.weight_decay, c.batch_size) == ("sgd", 0.1, 0.9, 1e-4, 128)
    assert (c.model.shortcut, c.model.block, c.model.norm, c.model.act, c.model.preact) == (
        "A", "basic", "batch", "relu", False)


def test_degradation_ordering_on_digits() -> None:
    """Plain-56 trains clearly worse than plain-20; its residual twin clearly better than it (He et al., Fig. 1).

    150 steps of the paper's recipe at width 8 (the full check, 400 steps, is `python -m resnet sweep`), the
    two 56-layer nets side by side in workers of the local backend (one thread each), then plain-20.
    Training error over the last 10% of steps, measured so for seeds 0-3: plain-20 0.007-0.009, plain-56
    0.376-0.610, ResNet-56 0.000-0.036. The margins leave at least 0.11 of slack below each gap.
    """
    store = RunStore()
    grid = SweepGrid(TrainConfig(test_every=150).replace(width=8), (20, 56), steps=150)
    deep_first = sorted((p for p in grid.points() if p.config.model.depth == 56 or not p.config.model.residual),
                        key=lambda p: -p.config.model.depth)
    LocalBackend(2).run(store, "fig1", deep_first, grid.steps)
    rows = {(r.depth, r.residual): r for r in sweep_rows(store, "fig1")}
    plain20, plain56, res56 = rows[(20, False)], rows[(56, False)], rows[(56, True)]
    print({k: round(r.train_error, 3) for k, r in rows.items()})
    assert plain56.train_error > plain20.train_error + 0.25
    assert plain56.train_error > res56.train_error + 0.15
    assert len(rows) == 3 and all(r.status == "finished" and r.steps == 150 for r in rows.values())


def test_sweep_records_every_run_with_its_responses() -> None:
    store = RunStore()
    seen: list[Progress] = []
    rows = run_sweep(store, SMALL, [8], steps=6, seeds=2, nets=[True, False], on_progress=seen.append)
    assert [(r.seed, r.residual) for r in rows] == [(0, False), (0, True), (1, False), (1, True)]
    tags = {store.run(r.run_id).sweep for r in rows}
    assert len(tags) == 1
    for r in rows:
        info = store.run(r.run_id)
        assert (info.depth, info.residual, info.config.seed, info.steps) == (8, r.residual, r.seed, 6)
        names, std = store.responses(r.run_id)
        assert len(names) == len(std) == 6  # 3 blocks x 2 layers
        assert r.train_error == pytest.approx(store.summary(r.run_id).train_error)
    assert seen[0].index == 0 and seen[-1].index == 3 and seen[-1].step == 6
    assert seen[-1].fraction == pytest.approx(1.0) and seen[0].total == 4


def test_twins_start_from_the_same_weights() -> None:
    config = SMALL.replace(depth=8)
    plain = twin_trainer(config.replace(residual=False), total_steps=5)
    res = twin_trainer(config.replace(residual=True), total_steps=5)
    try:
        own = res.model.state_dict()
        for k, v in plain.model.state_dict().items():
            torch.testing.assert_close(v, own[k])
        assert not plain.model.residual and res.model.residual
    finally:
        plain.close()
        res.close()


@pytest.mark.parametrize("depths, nets, steps, seeds, says", [
    ([], [True], 10, 1, "choose at least one depth"),
    ([20], [], 10, 1, "choose plain, residual or both"),
    ([20, 21], [True], 10, 1, r"depth 21 is not 6n\+2"),
    ([20], [True], 0, 1, "steps must be between 1"),
    ([20], [True], 10, 0, "seeds must be between 1"),
])
def test_bad_sweeps_are_refused(depths, nets, steps, seeds, says) -> None:
    with pytest.raises(ValueError, match=says):
        check_sweep(depths, nets, steps, seeds)


def test_local_copies_decide_the_data_sets(tmp_path: Path) -> None:
    assert sweep_datasets(tmp_path) == ["digits"] and not has_local_copy("cifar10", tmp_path)
    (tmp_path / "cifar-10-batches-py").mkdir()
    assert sweep_datasets(tmp_path) == ["digits", "cifar10"]
    with pytest.raises(ValueError, match="choose one of: mnist, fashion_mnist, cifar10"):
        has_local_copy("digits", tmp_path)
