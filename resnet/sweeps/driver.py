"""Run a sweep's grid on a backend, resuming a sweep that was interrupted; the front ends call `run_grid`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from resnet.store import RunStore
from resnet.sweeps.grid import GridPoint, SweepGrid, new_tag
from resnet.sweeps.progress import RunProgress
from resnet.sweeps.results import SweepRow, aggregates, sweep_rows

OnProgress = Callable[[list[RunProgress]], None]


class Backend(Protocol):
    """Trains grid points into the store under `tag`, reporting progress; Ctrl-C stops every run."""

    name: str

    def run(self, store: RunStore, tag: str, points: Sequence[GridPoint], steps: int,
            on_progress: OnProgress | None) -> list[RunProgress]:
        """Train `points`; the last progress of each (a run that never started says why)."""


@dataclass
class SweepResult:
    """A sweep's runs as the store has them, and what this call did."""

    tag: str
    rows: list[SweepRow]
    trained: int  # grid points trained by this call
    skipped: int  # grid points a resumed sweep had finished already
    unrecorded: list[RunProgress] = field(default_factory=list)  # runs that failed before the store saw them

    def aggregates(self) -> list[dict]:
        """Per configuration, the final errors over its seeds."""
        return aggregates(self.rows)


def resume_points(store: RunStore, grid: SweepGrid, tag: str) -> list[GridPoint]:
    """The grid points sweep `tag` has not finished; its unfinished runs make way for new ones.

    Every run of the sweep must belong to `grid` (the sweep's own flags), and none may be training.
    """
    runs = sorted(store.runs(sweep=tag), key=lambda r: r.id)  # the first run a message names is the oldest
    if not runs:
        raise ValueError(f"no sweep {tag!r} in {store.path}; `python -m resnet runs list --json` shows "
                         "each run's sweep")
    points = {(p.config, grid.steps): p for p in grid.points()}
    for r in runs:
        if (r.config, r.total_steps) not in points:
            raise ValueError(f"run {r.id} of sweep {tag!r} ({r.label}, seed {r.config.seed}, {r.config.dataset}, "
                             f"{r.total_steps} steps) is not in this grid; resume with the sweep's own flags")
        if r.status == "running":
            raise ValueError(f"run {r.id} of sweep {tag!r} is still being recorded (process {r.pid} on {r.host}); "
                             "stop that sweep first")
    done = {(r.config, r.total_steps) for r in runs if r.status == "finished"}
    for r in runs:
        if (r.config, r.total_steps) not in done:
            store.delete(r.id)
    return [p for key, p in points.items() if key not in done]


def run_grid(store: RunStore, grid: SweepGrid, backend: Backend, *, tag: str | None = None, resume: bool = False,
             on_progress: OnProgress | None = None) -> SweepResult:
    """Train the grid (with `resume`, only what sweep `tag` has not finished) and read its runs back."""
    if resume and not tag:
        raise ValueError("resume needs the sweep's tag")
    tag = tag or new_tag(grid.base, grid.steps)
    points = resume_points(store, grid, tag) if resume else grid.points()
    final = backend.run(store, tag, points, grid.steps, on_progress) if points else []
    unrecorded = [p for p in final if p.run_id is None and p.state == "failed"]
    return SweepResult(tag=tag, rows=sweep_rows(store, tag), trained=len(points), skipped=len(grid) - len(points),
                       unrecorded=unrecorded)
