"""Data sets as whole tensors on the device, batched and augmented there (no DataLoader workers).

Offline: `spirals` (2-D points), `digits` (scikit-learn's bundled 8x8 digits, resized to 16x16),
`mnist1d` (procedural 1-D signals). Through torchvision: `mnist`, `fashion_mnist`, `cifar10`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from resnet.checks import choice, flag, int_in

OFFLINE = ("spirals", "digits", "mnist1d")
ONLINE = ("mnist", "fashion_mnist", "cifar10")
DATASETS = OFFLINE + ONLINE
IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")  # the ones a CNN can take
_SPLIT_SEED = 1234  # fixed: the train/test split and generated data never depend on the run's seed


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors on one device; images are (N, C, H, W), points/signals (N, F)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    augment: bool = False  # CIFAR-10: pad 4, random crop, flip (He et al. 2015, Sec. 4.2)

    @property
    def is_image(self) -> bool:
        """Whether samples are images (a CNN can take them)."""
        return self.train_x.dim() == 4

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.train_x.shape[1:])

    @property
    def in_features(self) -> int:
        """Number of input features once a sample is flattened (for an MLP)."""
        return math.prod(self.sample_shape)


def default_root() -> Path:
    """Where torchvision data sets live: $GFL_DATA, else a per-user cache folder."""
    return Path(os.environ.get("GFL_DATA") or Path.home() / ".cache" / "gradient-flow-lab")


def load_dataset(name: str, *, root: str | os.PathLike | None = None, download: bool = False,
                 device: str | torch.device = "cpu", channels: int | None = None,
                 image_size: int | None = None) -> Dataset:
    """Load data set `name` onto `device` (offline ones are generated or bundled).

    `channels` (1 or 3) and `image_size` reshape image data sets, e.g. digits as 3x32x32.
    """
    choice("dataset", name, DATASETS)
    flag("download", download)
    if channels is not None:
        choice("channels", channels, (1, 3))
    if image_size is not None:
        int_in("image_size", image_size, 8, 64)
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from err
    if name == "spirals":
        xtr, ytr, xte, yte, k = _spirals()
    elif name == "mnist1d":
        xtr, ytr, xte, yte, k = _mnist1d()
    elif name == "digits":
        xtr, ytr, xte, yte, k = _digits()
    else:
        xtr, ytr, xte, yte, k = _torchvision(name, Path(root) if root else default_root(), download)
    if xtr.dim() == 4:
        xtr, xte = (_reshape_images(x, channels, image_size) for x in (xtr, xte))
        # Per-channel standardisation with train statistics, as the paper's mean subtraction.
        mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
        std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    else:
        mean, std = xtr.mean(dim=0), xtr.std(dim=0).clamp_min(1e-6)
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    return Dataset(name, xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev), k, augment=name == "cifar10")


def _reshape_images(x: torch.Tensor, channels: int | None, size: int | None) -> torch.Tensor:
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if channels is not None and x.shape[1] != channels:
        x = x.repeat(1, 3, 1, 1) if channels == 3 else x.mean(dim=1, keepdim=True)
    return x.contiguous()


def _split(x: torch.Tensor, y: torch.Tensor, test_fraction: float):
    g = torch.Generator().manual_seed(_SPLIT_SEED)
    perm = torch.randperm(len(x), generator=g)
    n_test = int(round(len(x) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def _spirals(n_per_class: int = 400, classes: int = 3, noise: float = 0.2):
    """Interleaved spiral arms in 2-D: a classic that needs a deep-ish non-linear boundary."""
    g = torch.Generator().manual_seed(_SPLIT_SEED)
    t = torch.linspace(0.05, 1.0, n_per_class).repeat(classes)  # (N,) radius
    y = torch.arange(classes).repeat_interleave(n_per_class)
    theta = 4.0 * t + y * (2 * math.pi / classes) + noise * torch.randn(len(t), generator=g)
    x = torch.stack([t * torch.cos(theta), t * torch.sin(theta)], dim=1)
    return (*_split(x, y, 0.25), classes)


def _digits():
    """scikit-learn's 1,797 bundled 8x8 digits, upsampled to 16x16 (1 channel)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    y = torch.tensor(d.target, dtype=torch.long)
    return (*_split(x, y, 1 / 6), 10)


# Ten hand-drawn 12-point templates, one per class, in the spirit of Greydanus' MNIST-1D.
_TEMPLATES = np.array([
    [5, 6, 7, 6, 5, 4, 3, 4, 5, 6, 7, 6], [1, 1, 1, 8, 8, 8, 1, 1, 1, 8, 8, 8],
    [0, 2, 4, 6, 8, 10, 8, 6, 4, 2, 0, 0], [9, 9, 0, 0, 9, 9, 0, 0, 9, 9, 0, 0],
    [0, 0, 0, 0, 10, 10, 10, 10, 0, 0, 0, 0], [10, 8, 6, 4, 2, 0, 2, 4, 6, 8, 10, 10],
    [0, 10, 0, 10, 0, 10, 0, 10, 0, 10, 0, 10], [3, 3, 3, 3, 3, 3, 9, 9, 9, 9, 9, 9],
    [0, 1, 3, 6, 10, 6, 3, 1, 0, 5, 5, 5], [8, 2, 8, 2, 5, 5, 5, 5, 2, 8, 2, 8],
], dtype=np.float32) / 10.0


def _mnist1d(n: int = 5000, length: int = 40):
    """Procedural 1-D digits: each template padded, scaled, shifted and noised to `length` points."""
    rng = np.random.default_rng(_SPLIT_SEED)
    y = rng.integers(0, 10, n)
    grid = np.linspace(0, 1, length)
    xs = []
    for label in y:
        t = np.interp(np.linspace(0, 1, 24), np.linspace(0, 1, 12), _TEMPLATES[label])
        signal = np.zeros(length, np.float32)
        shift = rng.integers(0, length - 24)
        signal[shift : shift + 24] = t * rng.uniform(0.8, 1.2)
        signal += 0.15 * rng.standard_normal(length) + 0.1 * np.sin(grid * rng.uniform(2, 8))
        xs.append(signal)
    x = torch.tensor(np.stack(xs), dtype=torch.float32)  # (N, 40)
    return (*_split(x, torch.tensor(y, dtype=torch.long), 0.2), 10)


def _torchvision(name: str, root: Path, download: bool):
    """MNIST, Fashion-MNIST or CIFAR-10 through torchvision's own readers."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[name]
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as err:
        hint = "pass download=True (--download) to fetch it" if not download else "the download failed"
        raise ValueError(
            f"no local copy of {name} under {root} ({hint}); offline data sets: {', '.join(OFFLINE)}"
        ) from err
    except OSError as err:  # no network while downloading
        raise ValueError(f"could not download {name} ({err}); offline data sets: {', '.join(OFFLINE)}") from err
    return (*_images(train), *_images(test), 10)


def _images(ds) -> tuple[torch.Tensor, torch.Tensor]:
    data = ds.data
    x = torch.as_tensor(np.asarray(data)).float() / 255.0
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    return x.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)


class Batches:
    """Seeded mini-batches drawn on the device: a fresh permutation each epoch, augmentation in one op."""

    def __init__(self, data: Dataset, batch_size: int, seed: int) -> None:
        int_in("batch size", batch_size, 1, 4096)
        self.data = data
        self.batch_size = min(batch_size, len(data.train_x))
        device = data.train_x.device
        # CPU generator for reproducible permutations on every device; indices move once per epoch.
        self._gen = torch.Generator().manual_seed(seed)
        self._aug_gen = torch.Generator(device=device).manual_seed(seed)
        self._perm = torch.empty(0, dtype=torch.long, device=device)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (x, y) batch; the last partial batch of an epoch is dropped for equal-sized steps."""
        if self._pos + self.batch_size > len(self._perm):
            n = len(self.data.train_x)
            self._perm = torch.randperm(n, generator=self._gen).to(self.data.train_x.device)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        x, y = self.data.train_x[idx], self.data.train_y[idx]
        if self.data.augment:
            x = augment_crop_flip(x, self._aug_gen)
        return x, y


def augment_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad by `pad`, crop back at a random offset, flip half horizontally: batched on the device."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H+2p, W+2p), zero padding as in the paper
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=x.device)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    flip = torch.rand(b, generator=gen, device=x.device) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def eval_chunks(data: Dataset, size: int = 1024):
    """The test set in chunks of `size`, so a large one never needs one huge forward."""
    for start in range(0, len(data.test_y), size):
        yield data.test_x[start : start + size], data.test_y[start : start + size]


@torch.no_grad()
def error_on_test_set(net: torch.nn.Module, data: Dataset, *, amp: bool = False) -> float:
    """Fraction of the test set `net` gets wrong, in its current mode; one host sync, at the end."""
    device = data.test_x.device
    wrong = torch.zeros((), device=device, dtype=torch.long)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for x, y in eval_chunks(data):
            wrong += (net(x).argmax(dim=1) != y).sum()
    return wrong.item() / len(data.test_y)

