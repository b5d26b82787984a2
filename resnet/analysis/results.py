"""The analyses' results as plain values (numpy arrays, floats, strings): what a worker sends back to a page,
what the run store keeps (resnet.analysis.records) and what the figures in viz/ draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
MAX_DRAWS = 100  # random draws per number of deleted blocks in a lesion study
MAX_K_VALUES = 12  # numbers of deleted blocks on the random-deletion curve


@dataclass(frozen=True)
class PairSummary:
    """What the pages say about the pair an analysis ran on, in plain values."""

    source: str  # where the pair came from, in words
    test_error: tuple[float, float]  # (plain, residual) on the full test set
    test_samples: int
    dataset: str
    is_image: bool
    num_classes: int
    depth: int
    run_ids: tuple[int, int]  # (plain, residual) in the run store

    @property
    def test_errors(self) -> dict[str, float]:
        """{"plain": error, "residual": error}."""
        return dict(zip(("plain", "residual"), self.test_error, strict=True))


@dataclass(frozen=True)
class Analysis(Generic[T]):
    """An analysis's result and the pair it was computed on."""

    pair: PairSummary
    result: T


@dataclass(frozen=True)
class LesionResult:
    """Accuracies of both twins with blocks deleted; arrays are plain numpy for caching and plotting."""

    block_names: list[str]
    intact: dict[str, float]  # twin -> test accuracy with every block
    single: dict[str, np.ndarray]  # twin -> (B,) accuracy with block i deleted
    k: np.ndarray  # (K,) numbers of blocks deleted at random
    random: dict[str, np.ndarray]  # twin -> (K, draws) accuracy with k random blocks deleted
    shape_changing: list[int]  # blocks whose deletion needs a zero-pad/projection, not y = x
    chance: float  # accuracy of guessing the most common test label


@dataclass(frozen=True)
class Landscape:
    """Losses of both twins on one grid; rows of `loss` still being computed are NaN."""

    alphas: np.ndarray  # (n,) coefficients of the first direction
    betas: np.ndarray  # (m,) coefficients of the second direction (m = 1 for a 1-D slice)
    loss: dict[str, np.ndarray]  # twin -> (m, n) loss
    accuracy: dict[str, np.ndarray]  # twin -> (m, n) accuracy on the same samples
    samples: int
    rows_done: int

    @property
    def complete(self) -> bool:
        """Whether every row has been computed."""
        return self.rows_done == len(self.betas)


@dataclass(frozen=True)
class Landscapes:
    """The 2-D grid and the 1-D slice of one landscape study."""

    grid: Landscape
    line: Landscape
