"""The local backend: a sweep's runs train side by side in worker processes; Ctrl-C stops them; resume finishes."""

from __future__ import annotations

import pytest

from resnet.store import RunStore
from resnet.sweeps.driver import run_grid
from resnet.sweeps.grid import SweepGrid
from resnet.sweeps.local import LocalBackend
from resnet.trainer import TrainConfig

SMALL = TrainConfig(test_every=5).replace(width=2)


def test_runs_train_side_by_side_and_every_run_is_recorded() -> None:
    store = RunStore()
    seen = []
    result = run_grid(store, SweepGrid(SMALL, (8,), (False, True), 1, (), 150), LocalBackend(2),
                      on_progress=seen.append)
    a, b = store.runs(sweep=result.tag)
    assert (a.status, b.status, a.steps, b.steps) == ("finished", "finished", 150, 150)
    assert a.started < b.ended and b.started < a.ended  # the two runs overlapped in time
    assert any(sum(p.state == "running" for p in ps) == 2 for ps in seen)  # and were reported so
    assert {a.pid, b.pid} != {None} and a.pid != b.pid  # each in its own worker process
    assert all(store.responses(r.id) is not None for r in (a, b))
    assert [r.run_id for r in result.rows] == sorted([a.id, b.id], key=lambda i: store.run(i).residual)


def test_ctrl_c_stops_the_sweep_and_resume_trains_only_the_rest() -> None:
    store = RunStore()
    grid = SweepGrid(SMALL, (8,), (False, True), 2, (), 120)

    def interrupt(progress) -> None:  # the first run ended, the second has begun: Ctrl-C
        if progress[0].state == "finished" and progress[1].step >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(store, grid, LocalBackend(1), tag="t", on_progress=interrupt)
    first, second = sorted(store.runs(sweep="t"), key=lambda r: r.id)  # the queued two never started
    assert (first.status, second.status) == ("finished", "stopped") and 2 <= second.steps < 120
    result = run_grid(store, grid, LocalBackend(2), tag="t", resume=True)
    assert (result.trained, result.skipped) == (3, 1)
    assert [r.status for r in result.rows] == ["finished"] * 4 and {r.steps for r in result.rows} == {120}
    assert first.id in {r.run_id for r in result.rows} and second.id not in {r.run_id for r in result.rows}
    assert store.integrity_check() == "ok"
