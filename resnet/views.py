"""Views of stored runs as plain data: a run or its pair as a RunView, a sweep as a SweepView."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from resnet.store import MAX_POINTS, RunInfo, RunStore, StoreError
from viz.runview import NetView, RunView, shortcuts_at
from viz.sweepview import DepthResult, ErrorCurve, ResponseCurve, SweepView


def role_of(info: RunInfo) -> str:
    """"residual" or "plain": the part the run plays beside its twin."""
    return "residual" if info.residual else "plain"


def net_view(store: RunStore, info: RunInfo, *, max_points: int = MAX_POINTS) -> NetView:
    """One stored run as a NetView (steps are iterations done, as the store keeps them)."""
    m = store.metrics(info.id, max_points=max_points)
    h = store.history(info.id, max_points=max_points)
    events = store.events(info.id)
    n_blocks = len(info.blocks)
    return NetView(
        label=info.label, residual=info.residual, names=list(info.blocks), layer_names=list(info.layers),
        steps=np.asarray(h.steps, np.int64), grad_norm=h.grad_norm, input_grad_norm=h.input_grad_norm,
        act_mean=h.act_mean, act_std=h.act_std, layer_grad_norm=h.layer_grad_norm, curve_steps=m.steps,
        loss=m.loss, train_error=m.train_error, test_steps=m.test_steps, test_error=m.test_error, events=events,
        shortcuts=shortcuts_at(n_blocks, info.residual, events, info.steps), status=info.status,
        message=info.message, run_id=info.id, run_key=info.key, thinned_after=thinned_after(store, info.id))


def thinned_after(store: RunStore, run_id: int) -> int | None:
    """The step after which the store keeps window means, where the store thins (None: every step is exact)."""
    reader = getattr(store, "thinned_after", None)
    return reader(run_id) if reader is not None else None


def runs_view(store: RunStore, runs: Mapping[str, RunInfo], *, max_points: int = MAX_POINTS) -> RunView:
    """Several stored runs by role (or label) as one RunView."""
    if not runs:
        raise StoreError("no run to show")
    nets = {role: net_view(store, info, max_points=max_points) for role, info in runs.items()}
    lead = runs.get("residual") or next(iter(runs.values()))
    step = max(info.steps for info in runs.values())
    total = max(info.total_steps for info in runs.values())
    statuses = {info.status for info in runs.values()}
    state = statuses.pop() if len(statuses) == 1 else ", ".join(f"{r} {i.status}" for r, i in runs.items())
    return RunView(nets=nets, step=step, total_steps=total, state=state, live=False, config=lead.config.to_dict(),
                   message="; ".join(i.message for i in runs.values() if i.message))


def stored_view(store: RunStore, run_id: int, *, max_points: int = MAX_POINTS) -> RunView:
    """The run `run_id` as a RunView: with its twin when it was recorded as one of a pair."""
    info = store.run(run_id)
    if info.pair:
        try:
            plain, residual = store.pair(info.pair)
            return runs_view(store, {"plain": plain, "residual": residual}, max_points=max_points)
        except StoreError:
            pass  # its twin was deleted: show the run alone
    return runs_view(store, {role_of(info): info}, max_points=max_points)


def sweep_view(store: RunStore, tag: str) -> SweepView:
    """Sweep `tag` as one SweepView: every run's curves, the final errors of those that ended, Fig. 7's
    responses, a table row a run, and the median dL/dx ratio (first/last block) of its deepest plain net."""
    runs = sorted(store.runs(sweep=tag), key=lambda r: (r.config.seed, r.residual, r.depth))
    first_seed = min((r.config.seed for r in runs), default=0)
    curves, results, responses, table = [], [], [], []
    for r in runs:
        m = store.metrics(r.id)
        s = store.summary(r.id)
        if len(m.steps):
            curves.append(ErrorCurve(r.depth, r.residual, m.steps, m.train_error, m.test_steps, m.test_error))
        if r.status in ("finished", "stopped") and r.steps:
            results.append(DepthResult(r.depth, r.residual, s.train_error, s.test_error))
        resp = store.responses(r.id)
        if resp is not None:
            responses.append(ResponseCurve(r.depth, r.residual, resp[1]))
        table.append({"run": r.id, "net": r.label, "seed": r.config.seed, "status": r.status,
                      "steps": f"{r.steps}/{r.total_steps}", "training error": s.train_error,
                      "test error": s.test_error, "seconds": round(r.seconds, 1),
                      "it/s": round(r.steps / r.seconds, 1) if r.seconds else None})
    plain = [r for r in runs if not r.residual and r.steps and r.config.seed == first_seed]
    return SweepView(tag, curves, results, responses, table,
                     _gradient(store, max(plain, key=lambda r: r.depth)) if plain else None)


def _gradient(store: RunStore, info: RunInfo) -> tuple[str, float] | None:
    """(label, median over training of dL/dx at the first block over the last) of one run, if recorded."""
    h = store.history(info.id, max_points=200)
    if not len(h) or h.input_grad_norm.shape[1] < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = h.input_grad_norm[:, 0] / h.input_grad_norm[:, -1]
    ratio = ratio[np.isfinite(ratio)]
    return info.label, float(np.median(ratio)) if len(ratio) else float("nan")
