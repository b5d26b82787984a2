"""Depth sweeps (Fig. 1 and 6 of He et al. 2015): plain and residual twins at several depths, recorded.

`run_sweep` trains the runs one after another and stores each with its Fig. 7 responses;
`SweepJob` runs a sweep in a background thread for the app (it never touches the UI: the page
polls `snapshot()` and the store).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from resnet.checks import choice, int_in
from resnet.data import default_root
from resnet.nets import check_cnn_depth
from resnet.recording import record
from resnet.responses import layer_response_std
from resnet.store import RunStore
from resnet.trainer import MAX_STEPS, TrainConfig, Trainer, twin_trainers
from resnet.worker import SLOTS, max_workers

PAPER_DEPTHS = (20, 32, 44, 56, 110)
FIG1_DEPTHS = (20, 56)  # the two plain nets of Fig. 1
RESPONSE_SAMPLES = 500  # test images the Fig. 7 responses are measured on
MAX_SEEDS = 20
STALE_AFTER_S = 300.0  # a page that has not polled for this long is gone (or left): its sweep stops
# torchvision data sets a CNN sweep can use once a local copy sits under the data root.
LOCAL_COPIES = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}


@dataclass(frozen=True)
class SweepRow:
    """One trained net of a sweep, with the numbers Fig. 1 plots."""

    run_id: int
    depth: int
    residual: bool
    seed: int
    status: str
    train_error: float  # mean batch training error over the last 10% of steps
    test_error: float | None  # the final test-set error
    steps: int
    seconds: float

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)


def has_local_copy(name: str, root: str | Path | None = None) -> bool:
    """Whether torchvision data set `name` has a local copy under `root` (default: the data cache)."""
    choice("dataset", name, tuple(LOCAL_COPIES))
    return (Path(root) if root else default_root()).joinpath(LOCAL_COPIES[name]).is_dir()


def sweep_datasets(root: str | Path | None = None) -> list[str]:
    """Image data sets a CNN sweep can use here: digits always, the others when a local copy exists."""
    return ["digits"] + [name for name in LOCAL_COPIES if has_local_copy(name, root)]


def check_sweep(depths: Sequence[int], nets: Sequence[bool], steps: int, seeds: int, block: str = "basic") -> None:
    """Validate a sweep's knobs, with messages that say what is valid."""
    if not depths:
        raise ValueError("choose at least one depth")
    if not nets:
        raise ValueError("choose plain, residual or both")
    for depth in depths:
        check_cnn_depth(depth, block)
    int_in("steps", steps, 1, MAX_STEPS)
    int_in("seeds", seeds, 1, MAX_SEEDS)


def new_tag(base: TrainConfig, steps: int) -> str:
    """A readable, unique name for a sweep: when, on what, how long."""
    return (f"{time.strftime('%Y-%m-%d %H:%M')} {base.dataset} width {base.model.width}, "
            f"{steps} steps #{uuid.uuid4().hex[:4]}")


@dataclass(frozen=True)
class Progress:
    """Where a sweep is: run `index` of `total` (0-based), at `step` of `steps`."""

    index: int
    total: int
    label: str
    step: int
    steps: int
    seconds: float = 0.0  # training time of the current run so far

    @property
    def rate(self) -> float:
        """Iterations per second of the current run."""
        return self.step / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        """Share of the sweep's steps done."""
        return (self.index * self.steps + self.step) / max(1, self.total * self.steps)


def run_sweep(store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
              nets: Sequence[bool] = (False, True), tag: str | None = None,
              on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, flush_seconds: float = 2.0) -> list[SweepRow]:
    """Train plain (False) and/or residual (True) nets at each depth, `seeds` seeds each, one after another.

    Twins share their seed, initial weights and batches. Each run is recorded in `store` under
    the sweep's `tag` with the std of its layer responses on test images (Fig. 7).
    """
    check_sweep(depths, nets, steps, seeds, base.model.block)
    tag = tag or new_tag(base, steps)
    plan = [(seed, depth, residual) for seed in range(base.seed, base.seed + seeds) for depth in depths
            for residual in sorted(set(nets))]
    rows: list[SweepRow] = []
    for index, (seed, depth, residual) in enumerate(plan):
        if should_stop is not None and should_stop():
            break
        config = replace(base, seed=seed).replace(depth=depth, family="cnn")
        trainer = _twin(config, residual, steps)
        label = trainer.config.model.label

        def report(t: Trainer, index: int = index, label: str = label) -> None:
            if on_progress is not None:
                on_progress(Progress(index, len(plan), label, t.step_count, steps, t.seconds))

        report(trainer)
        try:
            run_id = record(store, trainer, name=label, sweep=tag, should_stop=should_stop, on_step=report,
                            before_close=_save_responses(store), flush_seconds=flush_seconds)
        finally:
            trainer.close()
        summary = store.summary(run_id)
        info = store.run(run_id)
        rows.append(SweepRow(run_id=run_id, depth=depth, residual=residual, seed=seed, status=info.status,
                             train_error=summary.train_error, test_error=summary.test_error, steps=info.steps,
                             seconds=round(info.seconds, 2)))
    return rows


def _save_responses(store: RunStore) -> Callable[[int, Trainer], None]:
    """Store a trained net's Fig. 7 responses on test images (eval mode, as the net is used)."""

    def save(run_id: int, trainer: Trainer) -> None:
        responses = layer_response_std(trainer.model, trainer.data.test_x[:RESPONSE_SAMPLES])
        store.save_responses(run_id, responses.names, responses.std)

    return save


def _twin(config: TrainConfig, residual: bool, steps: int) -> Trainer:
    """The trainer of one twin: the plain net starts from its residual twin's initial weights."""
    plain, res = twin_trainers(config, total_steps=steps)
    keep, drop = (res, plain) if residual else (plain, res)
    drop.close()
    return keep


class SweepJob:
    """A sweep in a background thread owned by one app session; it stops when the session stops polling."""

    def __init__(self, store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
                 nets: Sequence[bool] = (False, True), stale_after: float = STALE_AFTER_S) -> None:
        check_sweep(depths, nets, steps, seeds, base.model.block)
        self.store = store
        self.base = base
        self.depths = list(depths)
        self.steps = steps
        self.seeds = seeds
        self.nets = list(nets)
        self.stale_after = stale_after
        self.tag = new_tag(base, steps)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = time.monotonic()
        self._progress = Progress(0, len(self.depths) * len(set(self.nets)) * seeds, "", 0, steps)
        self.state = "ready"  # ready -> running -> finished | stopped | failed
        self.error = ""
        self._thread = threading.Thread(target=self._run, name=f"sweep {self.tag}", daemon=True)

    def start(self) -> None:
        """Start training, or a ValueError when the server already trains its maximum of sweeps."""
        # One cap for every kind of training in this server (live twins and sweeps alike).
        if not SLOTS.acquire(id(self)):
            raise ValueError(f"{max_workers()} sessions are training right now, the most this server allows; "
                             "please try again in a moment")
        self.state = "running"
        self._thread.start()

    def stop(self) -> None:
        """Ask the sweep to stop after the current step (the run is kept as "stopped")."""
        self._stop.set()

    def beat(self) -> None:
        """Say the page is still watching."""
        with self._lock:
            self._beat = time.monotonic()

    def progress(self) -> Progress:
        """Where the sweep is now."""
        with self._lock:
            return self._progress

    @property
    def alive(self) -> bool:
        """Whether the thread is still training."""
        return self._thread.is_alive()

    def _should_stop(self) -> bool:
        with self._lock:
            stale = time.monotonic() - self._beat > self.stale_after
        return self._stop.is_set() or stale

    def _set_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    def _run(self) -> None:
        try:
            run_sweep(self.store, self.base, self.depths, steps=self.steps, seeds=self.seeds, nets=self.nets,
                      tag=self.tag, on_progress=self._set_progress, should_stop=self._should_stop,
                      flush_seconds=1.0)
            self.state = "stopped" if self._should_stop() else "finished"
        except Exception as err:  # noqa: BLE001 - the page shows any failure as a message
            self.error = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.state = "failed"
        finally:
            SLOTS.release(id(self))

