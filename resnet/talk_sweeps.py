"""A talk's sweep scenes: the recorded sweep a scene replays, and the sweep `talk record` trains for it.

A scene that describes a grid replays the newest sweep whose runs are exactly that grid's, every one
finished, whatever device trained it: a sweep tag survives `runs export` and `runs import`, so a sweep
recorded on a GPU box is found on the laptop. A scene may also name a sweep by its tag.
"""

from __future__ import annotations

from collections.abc import Callable

from resnet.store import RunInfo, RunStore, StoreError
from resnet.sweeps.driver import run_grid
from resnet.sweeps.local import LocalBackend
from resnet.sweeps.sequential import run_sweep
from resnet.talks import SweepSpec
from resnet.trainer import TrainConfig

Report = Callable[[str], None]


def _grid_key(config: TrainConfig, total_steps: int) -> tuple[TrainConfig, int]:
    """A run's place in a grid, whatever device trained it."""
    return config.replace(device="auto"), total_steps


def recorded_sweep(store: RunStore, sweep: str | SweepSpec) -> str | None:
    """The tag of the sweep a scene replays: its own tag if the store has runs of it, else the newest
    sweep of exactly the grid's runs, all finished; None if there is none."""
    if isinstance(sweep, str):
        return sweep if store.runs(sweep=sweep) else None
    wanted = {_grid_key(config, sweep.steps) for config in sweep.configs()}
    by_tag: dict[str, list[RunInfo]] = {}
    for info in store.runs():  # newest first
        if info.sweep is not None:
            by_tag.setdefault(info.sweep, []).append(info)
    for tag, runs in by_tag.items():
        if (len(runs) == len(wanted) and all(r.status == "finished" for r in runs)
                and {_grid_key(r.config, r.total_steps) for r in runs} == wanted):
            return tag
    return None


def record_sweep(store: RunStore, sweep: SweepSpec, *, device: str = "auto", jobs: int | None = None) -> str:
    """Train a scene's grid into `store` (on `jobs` worker processes; 1: in this process); returns its tag."""
    if jobs == 1:  # no worker to start: the smallest way, for a tiny grid or a machine of one core
        rows = run_sweep(store, sweep.base(device), sweep.depths, steps=sweep.steps, seeds=sweep.seeds,
                         nets=sweep.nets)
        tag = store.run(rows[0].run_id).sweep if rows else None
    else:
        tag = run_grid(store, sweep.grid(device), LocalBackend(jobs)).tag
    if tag is None or recorded_sweep(store, sweep) != tag:
        failed = [f"{r.label} ({r.status}{': ' + r.message if r.message else ''})"
                  for r in store.runs(sweep=tag) if r.status != "finished"] if tag else []
        raise StoreError(f"the sweep ({sweep.describe()}) did not finish: {', '.join(failed) or 'no run recorded'}")
    return tag
