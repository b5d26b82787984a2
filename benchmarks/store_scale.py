"""Run store size and read time for a ResNet-110-shaped record (54 blocks, 110 layers) as runs grow long.

    .venv/bin/python -m benchmarks.store_scale [--steps 1000 10000 64000] [--full-steps 10000]

Rows go through the RunRecorder as in training (a batch every 100 steps), from a stand-in trainer
that makes random probe rows instead of training; the final weights are a real ResNet-110's. The
read is what the Runs page reads for a run: its row, summary and snapshot (curves, probe history at
~1,000 points, events), from a fresh RunStore, median of 5. `--full-steps` adds unthinned records.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from resnet.nets import cifar_resnet
from resnet.probes import STATS, ProbeHistory, layer_weights
from resnet.store import RunRecorder, RunStore
from resnet.trainer import ModelSpec, TrainConfig

CONFIG = TrainConfig(model=ModelSpec(family="cnn", depth=110), dataset="cifar10", schedule="step", warmup_steps=400)


class StandIn:
    """What a RunRecorder reads of a Trainer, with random probe rows in place of training."""

    def __init__(self, total_steps: int) -> None:
        self.config, self.total_steps, self.device = CONFIG, total_steps, "cpu"
        self.model = cifar_resnet(110)
        self.data = type("Shapes", (), {"sample_shape": (3, 32, 32), "num_classes": 10})()
        self.probe = self
        self.layer_names = [name for name, _ in layer_weights(self.model)]
        self.names = self.model.block_names()
        self.loss, self.train_error, self.test_steps, self.test_error, self.events = [], [], [], [], []
        self.step_count, self.status, self.seconds, self.message = 0, "running", 0.0, ""
        self._drained = 0
        self._rng = np.random.default_rng(0)

    def step(self) -> None:
        """One stand-in step: a loss, an error, a test score every 500 steps."""
        self.step_count += 1
        self.loss.append(2.3 / self.step_count**0.2)
        self.train_error.append(0.9 / self.step_count**0.1)
        if self.step_count % 500 == 0:
            self.test_steps.append(self.step_count)
            self.test_error.append(0.3)
        if self.step_count == self.total_steps:
            self.status = "finished"

    def drain(self) -> ProbeHistory:
        """Random probe rows for the steps since the last drain, shaped as the probe's."""
        n, b, k = self.step_count - self._drained, len(self.names), len(self.layer_names)
        steps = np.arange(self._drained, self.step_count)
        self._drained = self.step_count
        stats = {s: self._rng.lognormal(size=(n, b)).astype(np.float32) for s in STATS}
        return ProbeHistory(names=self.names, layer_names=self.layer_names, steps=steps, **stats,
                            layer_grad_norm=self._rng.lognormal(size=(n, k)).astype(np.float32))


def measure(folder: Path, steps: int, *, full: bool) -> dict:
    """Record a run of `steps` stand-in steps; its file size, write time and the page's read time."""
    path = folder / f"{steps}-{'full' if full else 'thinned'}.db"
    store = RunStore(path)
    trainer = StandIn(steps)
    t0 = time.perf_counter()
    recorder = RunRecorder(store, trainer, flush_every=100, flush_seconds=1e9, full=full)
    while trainer.step_count < steps:
        trainer.step()
        recorder.update(trainer)
    recorder.finish(trainer)
    write_s = time.perf_counter() - t0
    with store._connect() as con:  # fold the WAL into the file before weighing it
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        page = RunStore(path)
        (info,) = page.runs()
        page.summary(info.id)
        snap = page.snapshot(info.id)
        times.append(time.perf_counter() - t0)
    return {"steps": steps, "mode": "full" if full else "thinned", "mb": path.stat().st_size / 1e6,
            "write_s": write_s, "read_s": statistics.median(times), "points": len(snap.history),
            "thinned_after": snap.thinned_after}


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 10_000, 64_000])
    parser.add_argument("--full-steps", type=int, nargs="*", default=[10_000])
    args = parser.parse_args()
    print(f"{'steps':>7} {'mode':>8} {'file MB':>8} {'write s':>8} {'read s':>7} {'points':>7} {'exact to':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for steps, full in [(s, False) for s in args.steps] + [(s, True) for s in args.full_steps]:
            r = measure(Path(tmp), steps, full=full)
            print(f"{r['steps']:>7} {r['mode']:>8} {r['mb']:>8.1f} {r['write_s']:>8.1f} {r['read_s']:>7.3f} "
                  f"{r['points']:>7} {str(r['thinned_after'] or '-'):>8}", flush=True)


if __name__ == "__main__":
    main()
