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
