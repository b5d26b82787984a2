"""The recorder: what a Trainer saw is what the store reads back."""

from __future__ import annotations

import os

import numpy as np
import pytest

from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import Trainer
from tests.resnet.store.helpers import recorded, tiny_trainer


def test_recorded_run_reads_back_what_the_trainer_saw() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 23)
    info = store.run(run_id)
    assert (info.status, info.steps, info.total_steps, info.name) == ("finished", 23, 23, "res-3")
    assert info.blocks == trainer.model.block_names() and info.sample_shape == (2,) and info.num_classes == 3
    assert info.config == trainer.config and info.pid == os.getpid()
    m = store.metrics(run_id)
    assert m.stride == 1
    np.testing.assert_array_equal(m.steps, np.arange(1, 24))
    np.testing.assert_allclose(m.loss, trainer.loss, rtol=1e-6)
    np.testing.assert_allclose(m.train_error, trainer.train_error)
    np.testing.assert_array_equal(m.test_steps, trainer.test_steps)
    np.testing.assert_allclose(m.test_error, trainer.test_error)
    h, ref = store.history(run_id), trainer.probe.history()
    np.testing.assert_array_equal(h.steps, ref.steps + 1)
    for stat in ("grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        np.testing.assert_allclose(getattr(h, stat), getattr(ref, stat), rtol=1e-6)
    s = store.summary(run_id)
    assert s.train_error == pytest.approx(np.mean(trainer.train_error[-2:]))  # last 10% of 23 steps: 2
    assert s.test_error == pytest.approx(trainer.test_error[-1])
    assert store.runs()[0].id == run_id


def test_shortcut_events_are_recorded() -> None:
    store = RunStore()
    trainer = tiny_trainer(12)

    def switch(t: Trainer) -> None:
        if t.step_count == 4:
            t.set_shortcut(1, False)
        if t.step_count == 8:
            t.set_shortcut(None, True)

    run_id = record(store, trainer, on_step=switch, flush_every=3)
    trainer.close()
    assert store.events(run_id) == [(4, 1, False), (8, None, True)]
