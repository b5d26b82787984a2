"""Exports: run files that carry everything, and full-resolution tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resnet.store import RunStore, StoreError, new_key
from tests.resnet.store.helpers import TINY, bare_run, recorded


def test_export_and_import_carry_everything(tmp_path: Path) -> None:
    store = RunStore()
    run_id, _ = recorded(store, 15)
    store.save_responses(run_id, ["a", "b"], [0.5, 0.25])
    path = store.export_run(run_id, tmp_path / "one.gflrun")
    assert not Path(f"{path}-wal").exists()  # one self-contained file
    with pytest.raises(StoreError, match="already exists"):
        store.export_run(run_id, path)
    other = RunStore(tmp_path / "laptop.db")
    bare_run(other)  # ids differ between stores
    (new,) = other.import_run(path).ids
    assert new != run_id or len(other.runs()) == 2
    a, b = store.snapshot(run_id), other.snapshot(new)
    assert a.info.config == b.info.config and b.info.status == "finished" and b.info.steps == 15
    assert b.info.key == a.info.key and other.run_by_key(a.info.key).id == new  # the key travels, the id need not
    np.testing.assert_array_equal(a.metrics.loss, b.metrics.loss)
    np.testing.assert_array_equal(a.history.grad_norm, b.history.grad_norm)
    assert other.responses(new)[0] == ["a", "b"]
    for k, v in store.state_dict(run_id).items():
        torch.testing.assert_close(other.state_dict(new)[k], v)
    mtime = path.stat().st_mtime_ns
    again = other.import_run(path)
    assert path.stat().st_mtime_ns == mtime  # importing reads the file, never writes it
    assert again.ids == [] and len(other.runs()) == 2  # a run already here is not imported twice
    assert again.skipped == [f"run {run_id} (res-3) of one.gflrun is already here as run {new}; skipped"]
    assert f"run {run_id} (res-3) of one.gflrun is already here" in again.summary(other.path)


def test_a_pair_travels_as_a_pair(tmp_path: Path) -> None:
    store = RunStore()
    key = new_key()
    plain = bare_run(store, config=TINY.replace(residual=False), pair=key)
    residual = bare_run(store, pair=key)
    bare_run(store)  # not of the pair
    assert [r.id for r in store.pair(key)] == [plain, residual]
    other = RunStore(tmp_path / "other.db")
    bare_run(other)
    for run_id in (plain, residual):
        other.import_run(store.export_run(run_id, tmp_path / f"{run_id}.gflrun"))
    a, b = other.pair(key)
    assert (a.residual, b.residual) == (False, True) and {a.key, b.key} == {r.key for r in store.pair(key)}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_export(tmp_path: Path, fmt: str) -> None:
    store = RunStore()
    run_id, trainer = recorded(store, 12)
    paths = store.export_tables(run_id, tmp_path / "out", fmt)
    assert [p.name for p in paths] == [f"run-{run_id}-{t}.{fmt}" for t in ("steps", "blocks", "layers", "events")]
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    steps, blocks = read(paths[0]), read(paths[1])
    assert list(steps["step"]) == list(range(1, 13))
    np.testing.assert_allclose(steps["loss"], trainer.loss, rtol=1e-6)
    assert len(blocks) == 12 * 3 and list(blocks["name"][:3]) == trainer.model.block_names()
    with pytest.raises(ValueError, match="csv, parquet"):
        store.export_tables(run_id, tmp_path, "xlsx")
