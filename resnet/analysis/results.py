"""The analyses' results as plain values (numpy arrays, floats, strings): what a worker sends back to a page,
what the run store keeps (resnet.analysis.records) and what the figures in viz/ draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
MAX_DRAWS = 100  # random draws per number of deleted blocks in a lesion study
MAX_K_VALUES = 12  # numbers of deleted blocks on the random-deletion curve
SAMPLES = (1, 256)  # test images the block attributions average over
STEPS = (4, 256)  # integration steps of an attribution
MAX_IMAGES = 8  # test images whose pixel attributions are drawn


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


@dataclass(frozen=True)
class BlockAttribution:
    """Per block, the share of the target logit's change (baseline to input) carried through F."""

    block_names: list[str]
    share: dict[str, np.ndarray]  # twin -> (B,) summed conductance through F_i / summed f(x) - f(baseline)
    samples: int
    n_steps: int


@dataclass(frozen=True)
class InputAttribution:
    """Pixel attributions of chosen test images for both twins; maps are summed over channels."""

    indices: list[int]
    images: np.ndarray  # (N, H, W) the inputs, channel-averaged, standardised units
    labels: list[int]
    predicted: dict[str, list[int]]  # twin -> predicted class per image
    integrated_gradients: dict[str, np.ndarray]  # twin -> (N, H, W)
    saliency: dict[str, np.ndarray]  # twin -> (N, H, W), |gradient| summed over channels
    delta: dict[str, np.ndarray]  # twin -> (N,) Captum's convergence delta of integrated gradients
    output_change: dict[str, np.ndarray]  # twin -> (N,) f(x) - f(baseline) for the label's logit


@dataclass(frozen=True)
class Attributions:
    """Block shares of both twins, and pixel maps of the chosen images (None: the data has no images)."""

    blocks: BlockAttribution
    inputs: InputAttribution | None


@dataclass(frozen=True)
class ShatteredResult:
    """Gradients along the segment and their autocorrelations, per depth, twin and stage."""

    depths: list[int]
    t: np.ndarray  # (P,) position along the segment
    gradient: dict[tuple[str, str], np.ndarray]  # (stage, twin) -> (D, P), seed 0; stage "init" or "trained"
    acf: dict[tuple[str, str], np.ndarray]  # (stage, twin) -> (D, S, max_lag + 1); S = seeds at init, 1 trained
    train_error: dict[str, np.ndarray]  # twin -> (D,) training error over the last tenth of the steps
    diverged: dict[str, np.ndarray]  # twin -> (D,) bool: training diverged (its "trained" rows are NaN)
    norm: str
    width: int
    steps: int

    def lag1(self, stage: str, twin: str) -> np.ndarray:
        """Lag-1 autocorrelation per depth, averaged over seeds; (D,)."""
        return self.acf[(stage, twin)][:, :, 1].mean(axis=1)
