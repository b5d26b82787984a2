"""A sweep trained in this process, one run after another: the baseline, and the page's background sweep.

`run_sweep` trains the runs in turn and stores each with its Fig. 7 responses; `SweepJob` runs a
sweep in a background thread for the app (it never touches the UI: the page polls `progress()`
and the store).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from resnet.store import RunStore
from resnet.sweeps.grid import SweepGrid, new_tag
from resnet.sweeps.point import train_point
from resnet.sweeps.results import SweepRow, sweep_rows
from resnet.trainer import TrainConfig, Trainer
from resnet.worker import SLOTS, max_workers

STALE_AFTER_S = 300.0  # a page that has not polled for this long is gone (or left): its sweep stops


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

    @property
    def text(self) -> str:
        """The progress bar's caption."""
        return (f"Training {self.label or '...'} ({self.index + 1} of {self.total}): step {self.step}/{self.steps}, "
                f"{self.rate:.1f} it/s")


def run_sweep(store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
              nets: Sequence[bool] = (False, True), tag: str | None = None,
              on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, flush_seconds: float = 2.0) -> list[SweepRow]:
    """Train plain (False) and/or residual (True) nets at each depth, `seeds` seeds each, one after another.

    Each run is recorded in `store` under the sweep's `tag` with the std of its layer responses on
    test images (Fig. 7).
    """
    grid = SweepGrid(base, tuple(depths), tuple(nets), seeds, (), steps)
    tag = tag or new_tag(base, steps)
    points = grid.points()
    ids = []
    for point in points:
        if should_stop is not None and should_stop():
            break

        def report(t: Trainer, index: int = point.index, label: str = point.name) -> None:
            if on_progress is not None:
                on_progress(Progress(index, len(points), label, t.step_count, steps, t.seconds))

        ids.append(train_point(store, point.config, steps, name=point.name, sweep=tag, should_stop=should_stop,
                               on_step=report, flush_seconds=flush_seconds))
    return [r for r in sweep_rows(store, tag) if r.run_id in ids]


class SweepJob:
    """A sweep in a background thread owned by one app session; it stops when the session stops polling."""

    def __init__(self, store: RunStore, base: TrainConfig, depths: Sequence[int], *, steps: int, seeds: int = 1,
                 nets: Sequence[bool] = (False, True), stale_after: float = STALE_AFTER_S) -> None:
        self.grid = SweepGrid(base, tuple(depths), tuple(nets), seeds, (), steps)
        self.store = store
        self.stale_after = stale_after
        self.tag = new_tag(base, steps)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = time.monotonic()
        self._progress = Progress(0, len(self.grid), "", 0, steps)
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
        g = self.grid
        try:
            run_sweep(self.store, g.base, g.depths, steps=g.steps, seeds=g.seeds, nets=g.nets, tag=self.tag,
                      on_progress=self._set_progress, should_stop=self._should_stop, flush_seconds=1.0)
            self.state = "stopped" if self._should_stop() else "finished"
        except Exception as err:  # noqa: BLE001 - the page shows any failure as a message
            self.error = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.state = "failed"
        finally:
            SLOTS.release(id(self))
