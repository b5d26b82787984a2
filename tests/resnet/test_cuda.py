"""The engine on a CUDA device: data, nets, probe rows and live jobs stay on the GPU. Skipped without one;
`benchmarks/gpu_check.sh` runs this file on a machine that has one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet.jobs import JobServer
from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import TrainConfig, Trainer, twin_trainers
from tests.helpers import wait_for

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = TrainConfig(device="cuda", test_every=5).replace(depth=20, width=8)


def test_data_net_and_probe_buffer_live_on_the_gpu() -> None:
    t = Trainer(CUDA, total_steps=10)
    for _ in range(10):
        t.step()
    assert t.data.test_x.device.type == "cuda" and next(t.model.parameters()).device.type == "cuda"
    assert t.probe._buf is not None and t.probe._buf.device.type == "cuda"  # rows wait on the GPU until drained
    h = t.probe.drain()
    assert len(h) == 10 and np.isfinite(h.grad_norm).all() and (h.grad_norm > 0).all()
    assert t.status == "finished" and ((t.result().train_error >= 0) & (t.result().train_error <= 1)).all()
    t.close()


def test_twins_start_from_the_same_weights_on_the_gpu() -> None:
    plain, residual = twin_trainers(CUDA, total_steps=3)
    for a, b in zip(plain.model.parameters(), residual.model.parameters(), strict=True):
        assert torch.equal(a, b)
    plain.close(), residual.close()


@pytest.mark.parametrize("knobs", [{"amp": True}, {"channels_last": True}])
def test_bf16_autocast_and_channels_last_train(knobs: dict) -> None:
    t = Trainer(CUDA.replace(**knobs), total_steps=20)
    while t.step():
        pass
    assert t.status == "finished" and np.isfinite(t.loss).all()
    t.close()


def test_a_run_recorded_on_the_gpu_reads_back_on_the_cpu() -> None:
    store = RunStore()
    t = Trainer(CUDA, total_steps=12)
    run_id = record(store, t, flush_every=4)
    t.close()
    info = store.run(run_id)
    assert (info.status, info.steps, info.config.device) == ("finished", 12, "cuda")
    weights = store.state_dict(run_id)
    assert weights and all(w.device.type == "cpu" for w in weights.values())


def test_live_twins_train_on_the_gpu_in_a_worker() -> None:
    server = JobServer(cap=1, limit=1)
    try:
        job = server.twins(CUDA, 40)
        job.train()
        assert wait_for(lambda: job.heartbeat() or job.steps_done >= 40 or not job.alive, 180)
        view = job.view(50)
        assert view.step == 40 and view.state == "finished", view.message
        assert job.pid is not None and job.pid != __import__("os").getpid()
    finally:
        server.shutdown()
