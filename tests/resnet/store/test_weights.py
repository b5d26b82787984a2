"""Final weights: round trips, runs without them, bad checkpoints, no unpickling."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
import torch

from resnet.store import RunStore, StoreError, read_state_dict
from tests.resnet.store.helpers import Payload, recorded


def test_weights_round_trip_into_a_rebuilt_model() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 10)
    model = store.load_model(run_id)
    x = trainer.data.test_x[:16]
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), trainer.model(x))
    assert not model.training


def test_runs_that_diverged_keep_no_weights_and_say_so() -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 30, lr=1e3)
    assert trainer.status == "diverged"
    assert store.run(run_id).status == "diverged"
    with pytest.raises(StoreError, match="has no stored weights"):
        store.state_dict(run_id)


def test_a_bad_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    store = RunStore()
    run_id, _ = recorded(store, 5)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE weights SET state_dict = ? WHERE run = ?", (b"not a checkpoint", run_id))
    with pytest.raises(StoreError, match=f"the weights of run {run_id} is not a valid checkpoint") as err:
        store.load_model(run_id)
    assert "\n" not in str(err.value)


def test_loading_weights_never_unpickles_arbitrary_objects(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    buf = io.BytesIO()
    torch.save({"w": Payload(marker)}, buf)
    with pytest.raises(StoreError, match="not a valid checkpoint"):
        read_state_dict(buf.getvalue())
    assert not marker.exists()
    buf = io.BytesIO()
    torch.save([torch.zeros(2)], buf)
    with pytest.raises(StoreError, match="expected a state_dict"):
        read_state_dict(buf.getvalue())
