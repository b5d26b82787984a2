"""Pairs from the run store: two stored twins loaded frozen, a recorded pair found again by its config."""

from __future__ import annotations

import pytest
import torch

from resnet.analysis.pairs import pair_from_store, recorded_pair, stored_candidates
from resnet.recording import record
from resnet.store import RunStore, StoreError
from resnet.trainer import ModelSpec, TrainConfig, Trainer
from tests.helpers import record_small_pair


def recorded(store: RunStore, depth: int, residual: bool, steps: int = 3) -> int:
    """A short MLP run recorded into `store` (final weights kept when it ran at least one step)."""
    config = TrainConfig(model=ModelSpec(family="mlp", depth=depth, width=8, residual=residual, norm="batch",
                                         act="relu"), dataset="spirals", device="cpu")
    trainer = Trainer(config, total_steps=steps)
    return record(store, trainer, should_stop=(lambda: True) if steps == 1 else None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, int]]:
    store = RunStore(tmp_path_factory.mktemp("pairs") / "runs.db")
    ids = {"plain": recorded(store, 4, False), "residual": recorded(store, 4, True),
           "deeper": recorded(store, 6, True), "no weights": recorded(store, 4, True, steps=1)}
    return store, ids


def test_two_stored_twins_load_as_a_frozen_pair(store) -> None:
    runs, ids = store
    pair = pair_from_store(runs, ids["plain"], ids["residual"], device="cpu")
    assert not pair.plain.residual and pair.residual.residual and not pair.plain.training
    assert not any(p.requires_grad for p in pair.residual.parameters())
    assert torch.equal(pair.residual.state_dict()["blocks.0.fc.weight"],
                       runs.state_dict(ids["residual"])["blocks.0.fc.weight"])
    plain_runs, residual_runs = stored_candidates(runs)
    assert [r.id for r in plain_runs] == [ids["plain"]]
    assert ids["no weights"] not in [r.id for r in residual_runs]  # stopped before a step: nothing kept


def test_stored_runs_that_are_not_twins_or_have_no_weights_say_so(store) -> None:
    runs, ids = store
    with pytest.raises(ValueError, match=r"not twins: they differ in depth \(4 vs 6\)"):
        pair_from_store(runs, ids["plain"], ids["deeper"], device="cpu")
    with pytest.raises(StoreError, match="has no stored weights"):
        pair_from_store(runs, ids["plain"], ids["no weights"], device="cpu")
    with pytest.raises(ValueError, match="has shortcuts; choose a plain run"):
        pair_from_store(runs, ids["residual"], ids["residual"], device="cpu")


def test_a_recorded_pair_is_found_by_its_config_steps_and_device_only(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    plain_id, residual_id = record_small_pair(store, family="mlp", steps=12)
    plain, residual = store.run(plain_id), store.run(residual_id)
    assert plain.pair == residual.pair is not None and store.pair(plain.pair)[1].id == residual_id
    config = residual.config
    assert recorded_pair(store, config, 12, "cpu") == (plain_id, residual_id)
    assert recorded_pair(store, config.replace(residual=False), 12, "cpu") == (plain_id, residual_id)
    assert recorded_pair(store, config.replace(seed=1), 12, "cpu") is None
    assert recorded_pair(store, config, 13, "cpu") is None
    assert recorded_pair(store, config, 12, "cuda") is None
    recorded(store, 4, True)  # a lone run of another config is no pair
    assert recorded_pair(store, config, 12, "cpu") == (plain_id, residual_id)
