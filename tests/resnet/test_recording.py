"""record(): a Trainer trained to its end while recorded; stopped, failed, closed in order."""

from __future__ import annotations

import pytest

from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import Trainer
from tests.resnet.store.helpers import tiny_trainer


def test_stopped_and_failed_runs_are_closed_properly() -> None:
    store = RunStore()
    trainer = tiny_trainer(50)
    run_id = record(store, trainer, should_stop=lambda: trainer.step_count >= 7)
    assert store.run(run_id).status == "stopped" and store.run(run_id).steps == 7
    assert store.state_dict(run_id)  # a stopped run keeps its weights
    trainer = tiny_trainer(50)

    def boom(t: Trainer) -> None:
        if t.step_count == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        record(store, trainer, on_step=boom)
    failed = store.runs()[0]
    assert (failed.status, failed.message, failed.steps) == ("failed", "disk on fire", 3)


def test_before_close_runs_before_the_final_status_only_for_trained_nets() -> None:
    store = RunStore()
    seen = []
    trainer = tiny_trainer(4)
    run_id = record(store, trainer, before_close=lambda rid, t: seen.append((rid, store.run(rid).status,
                                                                             t.step_count)))
    assert seen == [(run_id, "running", 4)] and store.run(run_id).status == "finished"
    diverging = tiny_trainer(30, lr=1e3)
    record(store, diverging, before_close=lambda rid, t: seen.append(rid))
    assert len(seen) == 1  # a diverged net is not a trained one
