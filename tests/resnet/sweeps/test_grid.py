"""The grid of a sweep: expansion, validation at the boundary (exit 2, one line), resume planning, aggregates."""

from __future__ import annotations

import pytest

from resnet.cli import main
from resnet.store import RunStore
from resnet.sweeps.driver import resume_points
from resnet.sweeps.grid import SweepGrid
from resnet.sweeps.results import SweepRow, aggregates
from resnet.sweeps.sequential import run_sweep
from resnet.trainer import TrainConfig

SMALL = TrainConfig(test_every=5).replace(width=2)


def test_grid_expands_datasets_seeds_depths_nets_in_order() -> None:
    grid = SweepGrid(TrainConfig(seed=3).replace(width=4), (56, 20, 20), (True, False), 2, ("digits",), 10)
    points = grid.points()
    assert len(grid) == len(points) == 8  # duplicates dropped: 2 depths x 2 nets x 2 seeds
    assert [(p.config.seed, p.config.model.depth, p.config.model.residual) for p in points[:4]] == [
        (3, 20, False), (3, 20, True), (3, 56, False), (3, 56, True)]
    assert [p.index for p in points] == list(range(8)) and points[-1].config.seed == 4
    assert {p.config.model.width for p in points} == {4} and {p.config.model.family for p in points} == {"cnn"}
    assert points[1].title == "res-20 seed 3 digits"


def test_grid_over_two_data_sets(tmp_path) -> None:
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)  # a local copy, as torchvision leaves it
    grid = SweepGrid(TrainConfig(data_root=str(tmp_path)), (20,), (False,), 1, ("digits", "mnist"), 10)
    assert [p.config.dataset for p in grid.points()] == ["digits", "mnist"]


@pytest.mark.parametrize("argv, says", [
    (["--depths", "20", "21"], "depth 21 is not 6n+2"),
    (["--seeds", "0"], "seeds must be between 1"),
    (["--seeds", "21"], "seeds must be between 1 and 20"),
    (["--datasets", "cifar10", "--data-root", "/nonexistent"], "no local copy of cifar10 under /nonexistent"),
    (["--datasets", "spirals"], "invalid choice: 'spirals'"),
    (["--dataset", "digits", "--datasets", "digits"], "give --dataset or --datasets, not both"),
    (["--jobs", "0"], "jobs must be an integer between 1 and 1024"),
    (["--backend", "local", "--address", "10.0.0.1:6379"], "--address needs --backend ray"),
    (["--backend", "spark"], "invalid choice: 'spark'"),
    (["--resume", "no such sweep"], "no sweep 'no such sweep' in"),
    (["--steps", "0"], "steps must be between 1"),
])
def test_bad_grids_exit_2_with_one_line(capsys: pytest.CaptureFixture, argv: list[str], says: str) -> None:
    try:
        code = main(["sweep", "--width", "2", "--depths", "8", "--steps", "3", *argv])
    except SystemExit as exit_:
        code = exit_.code
    _, err = capsys.readouterr()
    assert code == 2 and says in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert RunStore().runs() == []  # nothing trained


def test_resume_plans_only_what_did_not_finish() -> None:
    store = RunStore()
    grid = SweepGrid(SMALL, (8,), (False, True), 2, (), 4)
    rows = run_sweep(store, SMALL, [8], steps=4, seeds=2, tag="t")
    assert len(rows) == 4
    stopped = rows[3].run_id
    store.finish(stopped, "stopped", seconds=0.1)  # as Ctrl-C leaves a run
    todo = resume_points(store, grid, "t")
    assert [(p.config.seed, p.config.model.residual) for p in todo] == [(1, True)]
    assert stopped not in [r.id for r in store.runs(sweep="t")]  # the unfinished run makes way for its redo
    with pytest.raises(ValueError, match=r"\(plain-8, seed 0, digits, 4 steps\) is not in this grid; resume with"):
        resume_points(store, SweepGrid(SMALL, (8,), (False, True), 2, (), 5), "t")
    running = store.create_run(grid.points()[3].config, total_steps=4, blocks=["b"], layers=["l"],
                               sample_shape=(1, 16, 16), num_classes=10, device="cpu", sweep="t")
    with pytest.raises(ValueError, match=f"run {running} of sweep 't' is still being recorded"):
        resume_points(store, grid, "t")


def test_aggregates_over_seeds_use_finished_runs() -> None:
    def row(seed: int, train: float, test: float | None, status: str = "finished") -> SweepRow:
        return SweepRow(seed, 20, False, seed, "digits", status, train, test, 10, 1.0)

    (agg,) = aggregates([row(0, 0.1, 0.2), row(1, 0.3, 0.4), row(2, 0.9, 0.9, "stopped")])
    assert agg["net"] == "plain-20" and agg["runs"] == 3 and agg["seeds"] == [0, 1]
    assert agg["train_error"] == pytest.approx({"mean": 0.2, "std": 0.1, "min": 0.1, "max": 0.3})
    assert agg["test_error"]["max"] == pytest.approx(0.4)
    (none,) = aggregates([row(0, float("nan"), None)])
    assert none["train_error"] is None and none["test_error"] is None
