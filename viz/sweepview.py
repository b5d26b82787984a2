"""One depth sweep as plain numpy data: what Fig. 1, 6 and 7 and their sentences are drawn from.

Numpy only, so the engine builds it (resnet.views.sweep_view) and every page that shows a sweep
(the Degradation page, a talk's sweep scene) draws the same data with viz.degradation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SweepNet:
    """One net of a sweep: its depth and whether it has shortcuts."""

    depth: int
    residual: bool

    @property
    def label(self) -> str:
        """"plain-56" or "ResNet-56", the paper's names."""
        return f"{'ResNet' if self.residual else 'plain'}-{self.depth}"


@dataclass(frozen=True)
class ErrorCurve(SweepNet):
    """One net's training error (per batch) and test error against iterations."""

    steps: np.ndarray  # (S,) iterations
    train_error: np.ndarray  # (S,) fraction of the batch misclassified
    test_steps: np.ndarray  # (T,)
    test_error: np.ndarray  # (T,) fraction of the test set misclassified


@dataclass(frozen=True)
class DepthResult(SweepNet):
    """Final errors of one trained net (one seed)."""

    train_error: float  # mean over the last 10% of steps
    test_error: float | None


@dataclass(frozen=True)
class ResponseCurve(SweepNet):
    """Std of each layer's response of one net, input to output (Fig. 7)."""

    std: np.ndarray  # (L,)


@dataclass(frozen=True)
class SweepView:
    """A sweep's curves, final errors, responses, table rows, and its deepest plain net's gradient ratio."""

    tag: str
    curves: list[ErrorCurve] = field(default_factory=list)  # nets with at least one step
    results: list[DepthResult] = field(default_factory=list)  # nets that ended (finished or stopped)
    responses: list[ResponseCurve] = field(default_factory=list)  # nets whose Fig. 7 responses were taken
    table: list[dict] = field(default_factory=list)  # one row a run, for a table on screen
    gradient: tuple[str, float] | None = None  # (deepest plain net, median dL/dx first/last block)
