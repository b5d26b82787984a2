"""One view of a run: the plain numpy snapshot every figure draws, live or stored.

This module is numpy only and imports nothing else of the project, so it is the one part of
viz/ that resnet/ may import: resnet/ builds a RunView from a live job or from the run store,
viz/ draws it, and a run looks the same wherever it appears.

Steps count iterations done (1-based), as the run store does: the probe row of the first
training step is step 1, and a shortcut switch at step k takes effect from iteration k + 1.
Errors are fractions in [0, 1]; the figures draw them as percentages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

BLOCK_STATS = ("grad_norm", "input_grad_norm", "act_mean", "act_std")  # one probe row per block, this order
ROLES = ("plain", "residual")  # a pair's two nets; a single run takes the role of its kind
Event = tuple[int, "int | None", bool]  # (step, block or None for every block, shortcut on)


@dataclass(frozen=True)
class NetView:
    """One net's record: per-block and per-layer statistics, curves, shortcut switches."""

    label: str  # "plain-56", "res-20", ...
    residual: bool
    names: Sequence[str]  # (B,) block names, input to output
    layer_names: Sequence[str]  # (L,) conv/linear layer names
    steps: np.ndarray  # (S,) int64, steps of the probe rows shown
    grad_norm: np.ndarray  # (S, B) L2 norm of each block's parameter gradients
    input_grad_norm: np.ndarray  # (S, B) ||dL/dx|| at each block's input
    act_mean: np.ndarray  # (S, B) mean of each block's output
    act_std: np.ndarray  # (S, B) std of each block's output
    layer_grad_norm: np.ndarray  # (S, L) weight-gradient norm of each layer
    curve_steps: np.ndarray  # (C,) steps of the loss/error points shown (bucket means when downsampled)
    loss: np.ndarray  # (C,)
    train_error: np.ndarray  # (C,) fraction of each step's batch misclassified
    test_steps: np.ndarray  # (T,)
    test_error: np.ndarray  # (T,) fraction of the test set misclassified
    events: list[Event] = field(default_factory=list)
    shortcuts: list[bool] = field(default_factory=list)  # each block's switch now
    status: str = ""
    message: str = ""
    run_id: int | None = None  # its run in the store, once recorded
    run_key: str | None = None  # the store's stable key of that run
    thinned_after: int | None = None  # rows after this step are window means (the store thins long runs)

    @property
    def latest(self) -> int | None:
        """Row index of the latest probe record, or None before the first step."""
        return len(self.steps) - 1 if len(self.steps) else None

    def last_finite(self) -> int | None:
        """Row index of the latest row whose block gradients are all finite (a diverged run's NaN rows skipped)."""
        ok = np.flatnonzero(np.isfinite(self.grad_norm).all(axis=1)) if len(self.steps) else []
        return int(ok[-1]) if len(ok) else self.latest

    def upto(self, step: int) -> NetView:
        """The record as it stood after `step` iterations (the replay cursor)."""
        rows, curve, tests = self.steps <= step, self.curve_steps <= step, self.test_steps <= step
        return dataclasses.replace(
            self, steps=self.steps[rows], grad_norm=self.grad_norm[rows],
            input_grad_norm=self.input_grad_norm[rows], act_mean=self.act_mean[rows], act_std=self.act_std[rows],
            layer_grad_norm=self.layer_grad_norm[rows], curve_steps=self.curve_steps[curve], loss=self.loss[curve],
            train_error=self.train_error[curve], test_steps=self.test_steps[tests],
            test_error=self.test_error[tests], events=[e for e in self.events if e[0] <= step],
            shortcuts=shortcuts_at(len(self.names), self.residual, self.events, step))


@dataclass(frozen=True)
class RunView:
    """A run or a plain/residual pair, as every page and export draws it."""

    nets: Mapping[str, NetView]  # by role: "plain" and/or "residual"
    step: int  # iterations done (the furthest net)
    total_steps: int
    state: str = ""  # a live job's state, or the stored run's status
    message: str = ""
    steps_per_sec: float = 0.0
    live: bool = False  # True: a job trains it now; False: read from the store
    config: Mapping = field(default_factory=dict)  # the (residual, or only) net's TrainConfig as a dict

    @property
    def names(self) -> Sequence[str]:
        """Block names of the first net (twins share them)."""
        return next(iter(self.nets.values())).names if self.nets else []

    @property
    def started(self) -> bool:
        """Whether any net has a probe row yet."""
        return any(n.latest is not None for n in self.nets.values())

    @property
    def events(self) -> list[Event]:
        """Shortcut switches of the net that has shortcuts (the residual one of a pair)."""
        net = self.nets.get("residual") or next(iter(self.nets.values()), None)
        return list(net.events) if net is not None else []

    def upto(self, step: int) -> RunView:
        """Every net cut at `step` (the replay cursor)."""
        return dataclasses.replace(self, nets={k: n.upto(step) for k, n in self.nets.items()},
                                   step=min(self.step, step))


def empty_net(label: str, residual: bool, names: Sequence[str]) -> NetView:
    """A net with no rows yet: its panels draw as empty axes with the block names in place."""
    none, rows = np.zeros(0), np.zeros((0, len(names)))
    return NetView(label=label, residual=residual, names=list(names), layer_names=[], steps=np.zeros(0, np.int64),
                   grad_norm=rows, input_grad_norm=rows, act_mean=rows, act_std=rows, layer_grad_norm=np.zeros((0, 0)),
                   curve_steps=none, loss=none, train_error=none, test_steps=np.zeros(0, np.int64), test_error=none,
                   shortcuts=[residual] * len(names))


def shortcuts_at(n_blocks: int, residual: bool, events: Sequence[Event], step: int) -> list[bool]:
    """Each block's shortcut switch after the events up to `step` (all on for a residual net at the start)."""
    on = [residual] * n_blocks
    for s, block, state in events:
        if s > step:
            break
        if block is None:
            on = [state] * n_blocks
        elif 0 <= block < n_blocks:
            on[block] = state
    return on


def sample(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into n items, at most `max_points`, always keeping the first and last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
