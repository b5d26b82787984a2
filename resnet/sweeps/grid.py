"""A sweep's grid: depths x plain/residual x seeds x data sets over one base config, validated up front.

Fig. 6 of He et al. (2015) trains plain and residual nets at 20, 32, 44, 56 and 110 layers; the
paper reports ResNet-110 as the best of 5 runs (mean +/- std), hence the seeds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet.checks import choice, int_in
from resnet.data import IMAGE_DATASETS, default_root
from resnet.nets import check_cnn_depth
from resnet.trainer import MAX_STEPS, TrainConfig

PAPER_DEPTHS = (20, 32, 44, 56, 110)
FIG1_DEPTHS = (20, 56)  # the two plain nets of Fig. 1
MAX_SEEDS = 20
# torchvision data sets a CNN sweep can use once a local copy sits under the data root.
LOCAL_COPIES = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}


def has_local_copy(name: str, root: str | Path | None = None) -> bool:
    """Whether torchvision data set `name` has a local copy under `root` (default: the data cache)."""
    choice("dataset", name, tuple(LOCAL_COPIES))
    return (Path(root) if root else default_root()).joinpath(LOCAL_COPIES[name]).is_dir()


def sweep_datasets(root: str | Path | None = None) -> list[str]:
    """Image data sets a CNN sweep can use here: digits always, the others when a local copy exists."""
    return ["digits"] + [name for name in LOCAL_COPIES if has_local_copy(name, root)]


def check_sweep(depths: Sequence[int], nets: Sequence[bool], steps: int, seeds: int, block: str = "basic") -> None:
    """Validate a sweep's knobs, with messages that say what is valid."""
    if not depths:
        raise ValueError("choose at least one depth")
    if not nets:
        raise ValueError("choose plain, residual or both")
    for depth in depths:
        check_cnn_depth(depth, block)
    int_in("steps", steps, 1, MAX_STEPS)
    int_in("seeds", seeds, 1, MAX_SEEDS)


def new_tag(base: TrainConfig, steps: int) -> str:
    """A readable, unique name for a sweep: when, on what, how long."""
    return (f"{time.strftime('%Y-%m-%d %H:%M')} {base.dataset} width {base.model.width}, "
            f"{steps} steps #{uuid.uuid4().hex[:4]}")


def grid_configs(base: TrainConfig, depths: Sequence[int], nets: Sequence[bool], seeds: int,
                 datasets: Sequence[str]) -> list[TrainConfig]:
    """The config of every run of a grid, in grid order; nothing checked, so a recorded grid is found again
    on a machine without its data set."""
    return [base.replace(dataset=dataset, seed=seed, family="cnn", depth=depth, residual=residual)
            for dataset in datasets for seed in range(base.seed, base.seed + seeds)
            for depth in sorted(set(depths)) for residual in sorted(set(nets))]


@dataclass(frozen=True)
class GridPoint:
    """One run of a sweep: its place in the grid and the config it trains."""

    index: int
    config: TrainConfig

    @property
    def name(self) -> str:
        """The run's name: "plain-56", "res-20"."""
        return self.config.model.label

    @property
    def title(self) -> str:
        """What a progress line calls it: net, seed and data set."""
        return f"{self.name} seed {self.config.seed} {self.config.dataset}"


@dataclass(frozen=True)
class SweepGrid:
    """Plain (False) and/or residual (True) CNNs at each depth, `seeds` seeds from base.seed, on each data set."""

    base: TrainConfig
    depths: tuple[int, ...]
    nets: tuple[bool, ...] = (False, True)
    seeds: int = 1
    datasets: tuple[str, ...] = ()  # empty: the base config's data set
    steps: int = 400

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(sorted(set(self.depths))))
        object.__setattr__(self, "nets", tuple(sorted(set(self.nets))))
        object.__setattr__(self, "datasets", tuple(dict.fromkeys(self.datasets or (self.base.dataset,))))
        check_sweep(self.depths, self.nets, self.steps, self.seeds, self.base.model.block)
        int_in("seed", self.base.seed + self.seeds - 1, 0, 2**31 - 1)
        for name in self.datasets:
            choice("dataset", name, IMAGE_DATASETS)
            if name in LOCAL_COPIES and not self.base.download and not has_local_copy(name, self.base.data_root):
                raise ValueError(f"no local copy of {name} under {self.base.data_root or default_root()}; "
                                 f"choose one of: {', '.join(sweep_datasets(self.base.data_root))}")

    def points(self) -> list[GridPoint]:
        """Every run of the grid, data set by data set, seed by seed, shallow to deep, plain before residual."""
        configs = grid_configs(self.base, self.depths, self.nets, self.seeds, self.datasets)
        return [GridPoint(i, c) for i, c in enumerate(configs)]

    def __len__(self) -> int:
        return len(self.datasets) * self.seeds * len(self.depths) * len(self.nets)
