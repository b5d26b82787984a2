"""What the store tests share: a tiny config, recorded runs, fake probe rows, a hostile pickle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from resnet.probes import ProbeHistory
from resnet.recording import record
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[3]
TINY = TrainConfig(model=ModelSpec(family="mlp", depth=3, width=8, act="tanh", norm="none"), dataset="spirals",
                   test_every=5)


def tiny_trainer(steps: int = 23, **changes) -> Trainer:
    return Trainer(TINY.replace(**changes), total_steps=steps)


def recorded(store: RunStore, steps: int = 23, **changes) -> tuple[int, Trainer]:
    trainer = tiny_trainer(steps, **changes)
    run_id = record(store, trainer, flush_every=5)
    trainer.close()
    return run_id, trainer


def fake_history(steps: np.ndarray, blocks: int = 3, layers: int = 5) -> ProbeHistory:
    s = len(steps)
    grid = np.arange(s * blocks, dtype=np.float32).reshape(s, blocks) + 1
    return ProbeHistory(names=[f"block{i}" for i in range(blocks)], layer_names=[f"l{i}" for i in range(layers)],
                        steps=np.asarray(steps, np.int64), grad_norm=grid, input_grad_norm=2 * grid,
                        act_mean=-grid, act_std=grid / 10,
                        layer_grad_norm=np.arange(s * layers, dtype=np.float32).reshape(s, layers))


def bare_run(store: RunStore, total: int = 10) -> int:
    return store.create_run(TINY, total_steps=total, blocks=["block0", "block1", "block2"],
                            layers=[f"l{i}" for i in range(5)], sample_shape=(2,), num_classes=3, device="cpu")


class Payload:
    """An object whose unpickling would run a command: weights_only must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
