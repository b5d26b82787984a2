"""What a sweep produced: one row per run, and per configuration the spread of its seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from resnet.store import RunStore


@dataclass(frozen=True)
class SweepRow:
    """One trained net of a sweep, with the numbers Fig. 1 plots."""

    run_id: int
    depth: int
    residual: bool
    seed: int
    dataset: str
    status: str
    train_error: float  # mean batch training error over the last 10% of steps
    test_error: float | None  # the final test-set error
    steps: int
    seconds: float
    message: str = ""

    @property
    def net(self) -> str:
        """"plain-56" or "res-20"."""
        return f"{'res' if self.residual else 'plain'}-{self.depth}"

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)


def sweep_rows(store: RunStore, tag: str) -> list[SweepRow]:
    """Every run of sweep `tag`, in grid order (data set, seed, depth, plain before residual)."""
    rows = []
    for info in store.runs(sweep=tag):
        summary = store.summary(info.id)
        rows.append(SweepRow(run_id=info.id, depth=info.depth, residual=info.residual, seed=info.config.seed,
                             dataset=info.config.dataset, status=info.status, train_error=summary.train_error,
                             test_error=summary.test_error, steps=info.steps, seconds=round(info.seconds, 2),
                             message=info.message))
    return sorted(rows, key=lambda r: (r.dataset, r.seed, r.depth, r.residual, r.run_id))


def spread(values: list[float]) -> dict[str, float] | None:
    """Mean, std (over the seeds, not of the mean), min and max; None when there are no values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return None
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}


def aggregates(rows: list[SweepRow]) -> list[dict]:
    """Per configuration (data set, depth, net), the final errors of its finished runs over their seeds."""
    groups: dict[tuple, list[SweepRow]] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.depth, r.residual), []).append(r)
    out = []
    for (dataset, depth, residual), mine in sorted(groups.items()):
        done = [r for r in mine if r.status == "finished"]
        out.append({"dataset": dataset, "depth": depth, "residual": residual, "net": mine[0].net,
                    "runs": len(mine), "seeds": sorted(r.seed for r in done),
                    "train_error": spread([r.train_error for r in done]),
                    "test_error": spread([r.test_error for r in done])})
    return out
