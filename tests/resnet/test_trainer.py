"""The trainer: determinism, twins, divergence, stopping, schedules, mid-training shortcut switches."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resnet.data import Batches
from resnet.trainer import ModelSpec, TrainConfig, Trainer, train, train_twins, twin_trainers

MLP = TrainConfig(model=ModelSpec(family="mlp", depth=4, width=16), dataset="spirals", batch_size=32,
                  test_every=3)
CNN = TrainConfig(model=ModelSpec(family="cnn", depth=8, width=4), dataset="digits", batch_size=16, test_every=3)


def _same_run(a, b) -> None:
    for field in ("loss", "train_error", "test_steps", "test_error"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for stat in ("steps", "grad_norm", "input_grad_norm", "act_mean", "act_std", "layer_grad_norm"):
        np.testing.assert_array_equal(getattr(a.history, stat), getattr(b.history, stat), err_msg=stat)


@pytest.mark.parametrize("config", [MLP, CNN], ids=["mlp", "cnn"])
def test_runs_are_deterministic_for_a_seed(config: TrainConfig) -> None:
    a, b = train(config, steps=6), train(config, steps=6)
    assert a.status == b.status == "finished" and a.steps == 6
    _same_run(a, b)
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values(),
                                                  strict=True))
    other = train(config.replace(seed=1), steps=6)
    assert not np.array_equal(a.loss, other.loss)


def test_run_result_holds_every_record() -> None:
    seen = []
    r = train(MLP, steps=7, on_step=lambda t: seen.append(t.step_count))
    assert seen == list(range(1, 8))
    assert r.loss.shape == r.train_error.shape == (7,) and np.isfinite(r.loss).all()
    assert ((r.train_error >= 0) & (r.train_error <= 1)).all()
    assert r.test_steps.tolist() == [3, 6, 7]  # every test_every steps, and at the end
    assert r.history.grad_norm.shape == (7, 4) and r.history.steps.tolist() == list(range(7))
    assert r.model.taps is None  # the probe let go of the model
    assert r.seconds > 0 and r.diverged_at is None and r.message == ""


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_twins_start_from_the_same_weights_and_batches(shortcut: str) -> None:
    config = CNN.replace(depth=14, shortcut=shortcut)
    plain, residual = twin_trainers(config, total_steps=3)
    try:
        assert not plain.model.residual and residual.model.residual
        own, theirs = plain.model.state_dict(), residual.model.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in own.items())
        projections = set(theirs) - set(own)  # the only weights a plain net cannot share
        assert all(".shortcut." in k for k in projections) and bool(projections) == (shortcut == "B")
        for _ in range(3):
            (xp, yp), (xr, yr) = plain.batches.next(), residual.batches.next()
            assert torch.equal(xp, xr) and torch.equal(yp, yr)
    finally:
        plain.close()
        residual.close()


def test_residual_twin_with_every_shortcut_off_trains_exactly_like_the_plain_twin() -> None:
    """Same weights, same batches, same updates: only the shortcut can make the runs differ."""
    plain, residual = twin_trainers(CNN, total_steps=4)
    try:
        residual.set_shortcut(None, False)
        while plain.step() | residual.step():
            pass
        np.testing.assert_array_equal(plain.loss, residual.loss)
        np.testing.assert_array_equal(plain.probe.history().grad_norm, residual.probe.history().grad_norm)
    finally:
        plain.close()
        residual.close()


def test_train_twins_returns_plain_then_residual() -> None:
    plain, residual = train_twins(MLP, steps=3)
    assert (plain.config.model.residual, residual.config.model.residual) == (False, True)
    assert plain.steps == residual.steps == 3
    assert plain.loss[0] != residual.loss[0]  # same start, but the shortcuts change the output


def test_shortcut_switch_takes_effect_at_the_next_step() -> None:
    trainer = Trainer(MLP, total_steps=5)
    try:
        trainer.step()
        trainer.step()
        before = copy.deepcopy(trainer.model)  # the weights step 2 will start from
        trainer.set_shortcut(1, False)
        trainer.step()
        assert trainer.model.shortcuts() == [True, False, True, True]
        assert trainer.events == [(2, 1, False)]
        batches = Batches(trainer.data, MLP.batch_size, MLP.seed)
        x, y = [batches.next() for _ in range(3)][-1]  # step 2's batch
        before.taps = None
        before.set_shortcut(1, False)
        assert trainer.loss[2] == pytest.approx(F.cross_entropy(before(x), y).item(), rel=1e-6)
        before.set_shortcut(1, True)
        assert trainer.loss[2] != pytest.approx(F.cross_entropy(before(x), y).item(), rel=1e-3)
        trainer.set_shortcut(None, True)
        while trainer.step():
            pass
        r = trainer.result()
        assert r.events == [(2, 1, False), (3, None, True)] and r.status == "finished"
    finally:
        trainer.close()


def test_divergence_stops_the_run_and_keeps_what_came_before() -> None:
    r = train(MLP.replace(lr=1e3), steps=50)
    assert r.status == "diverged"
    k = r.diverged_at
    assert k is not None and r.steps == k + 1 < 50  # stopped at the first bad step, not later
    assert np.isfinite(r.loss[:k]).all() and not math.isfinite(r.loss[k])
    assert len(r.loss) == len(r.train_error) == len(r.history) == k + 1
    assert r.history.steps.tolist() == list(range(k + 1))
    assert f"at step {k}" in r.message and "diverged" in r.message and "lower the lr" in r.message


def test_diverged_trainer_takes_no_more_steps() -> None:
    trainer = Trainer(MLP.replace(lr=1e3), total_steps=50)
    try:
        while trainer.step():
            pass
        state = copy.deepcopy(trainer.model.state_dict())
        steps = trainer.step_count
        assert trainer.done and not trainer.step()
        assert trainer.step_count == steps
        for k, v in trainer.model.state_dict().items():
            torch.testing.assert_close(v, state[k], rtol=0, atol=0, equal_nan=True)
        assert trainer.result().status == "diverged"
    finally:
        trainer.close()


def test_should_stop_stops_the_run() -> None:
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    r = train(MLP, steps=20, should_stop=should_stop)
    assert r.status == "stopped" and r.steps == 3
    assert len(r.loss) == len(r.history) == 3


def test_step_schedule_divides_at_half_and_three_quarters() -> None:
    trainer = Trainer(MLP.replace(schedule="step", lr=0.1), total_steps=100)
    try:
        lrs = {s: trainer.lr_at(s) for s in (0, 49, 50, 74, 75, 99)}
        assert lrs == pytest.approx({0: 0.1, 49: 0.1, 50: 0.01, 74: 0.01, 75: 0.001, 99: 0.001})
    finally:
        trainer.close()


def test_schedule_reaches_the_optimizer() -> None:
    trainer = Trainer(MLP.replace(schedule="step", lr=0.1, warmup_steps=1), total_steps=4)
    try:
        used = []
        while not trainer.done:
            trainer.step()
            used.append(trainer.optimizer.param_groups[0]["lr"])
        assert used == pytest.approx([0.01, 0.1, 0.01, 0.001])  # warm-up at lr/10, then /10 at 2 and 3
    finally:
        trainer.close()


def test_cosine_schedule_and_warmup() -> None:
    trainer = Trainer(MLP.replace(schedule="cosine", lr=0.2, warmup_steps=10), total_steps=100)
    try:
        assert trainer.lr_at(0) == trainer.lr_at(9) == pytest.approx(0.02)
        assert trainer.lr_at(50) == pytest.approx(0.1)
        assert trainer.lr_at(99) < 0.001
    finally:
        trainer.close()


def test_adam_trains() -> None:
    r = train(MLP.replace(optimizer="adam", lr=1e-2), steps=30)
    assert r.status == "finished" and r.loss[-5:].mean() < r.loss[:5].mean()


def test_evaluate_scores_the_test_set_without_recording_probe_rows() -> None:
    trainer = Trainer(MLP, total_steps=5)
    try:
        trainer.step()
        err = trainer.evaluate()
        assert 0 <= err <= 1 and trainer.test_error == [err] and trainer.test_steps == [1]
        assert len(trainer.probe.history()) == 1
    finally:
        trainer.close()


def test_config_round_trips_and_replace_reaches_the_model() -> None:
    config = CNN.replace(depth=20, residual=False, lr=0.05, shortcut="B")
    assert config.model == ModelSpec(family="cnn", depth=20, residual=False, shortcut="B", width=4)
    assert config.lr == 0.05 and CNN.lr == 0.1  # frozen: the original is untouched
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.model.label == "plain-20" and MLP.model.label == "res-4"
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        TrainConfig.from_dict({**config.to_dict(), "colour": "red"})
