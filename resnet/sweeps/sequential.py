"""A sweep trained in this process, one run after another: the baseline the parallel backends are measured
against, and the smallest way to record a sweep in a test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from resnet.store import RunStore
from resnet.sweeps.grid import SweepGrid, new_tag
from resnet.sweeps.point import train_point
from resnet.sweeps.results import SweepRow, sweep_rows
from resnet.trainer import TrainConfig, Trainer


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
