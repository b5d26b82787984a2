"""Data: offline sets, torchvision's on-disk formats written as tiny fixtures, batches and augmentation.

No test here touches the network: an autouse fixture makes any socket connection fail.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet.data import OFFLINE, Batches, Dataset, augment_crop_flip, load_dataset


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to connect anywhere fails loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("a data test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(("name", "train_shape", "test_len", "classes"), [
    ("spirals", (900, 2), 300, 3),
    ("digits", (1497, 1, 16, 16), 300, 10),
    ("mnist1d", (4000, 40), 1000, 10),
])
def test_offline_sets_load_with_their_shapes(name: str, train_shape: tuple, test_len: int, classes: int) -> None:
    d = load_dataset(name)
    assert tuple(d.train_x.shape) == train_shape
    assert d.test_x.shape[1:] == d.train_x.shape[1:] and len(d.test_x) == len(d.test_y) == test_len
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.long
    assert d.num_classes == classes and set(d.train_y.tolist()) == set(range(classes))
    assert not d.augment and d.train_x.device.type == "cpu"
    axes = (0, 2, 3) if d.is_image else 0
    assert torch.allclose(d.train_x.mean(dim=axes), torch.zeros(()), atol=1e-4)  # standardised on train
    again = load_dataset(name)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(d, field), getattr(again, field)), field


def test_digits_take_channels_and_size() -> None:
    d = load_dataset("digits", channels=3, image_size=32)
    assert d.sample_shape == (3, 32, 32) and d.in_features == 3 * 32 * 32
    assert torch.equal(d.train_x[:, 0], d.train_x[:, 2])  # grey repeated on every channel


# --- torchvision's formats, written here ------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic 0x00000800 + ndim (unsigned bytes), big-endian sizes, raw bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, folder: str, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    """A tiny MNIST-style copy under root/<folder>/raw, with the file names torchvision expects."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write_idx(raw / f"{split}-images-idx3-ubyte", images)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        arrays[split] = (images, labels)
    return arrays


def _standardised(raw_train: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """What load_dataset should make of raw uint8 images (N, C, H, W): scaled, per-channel train statistics."""
    train = raw_train.float() / 255
    mean, std = train.mean(dim=(0, 2, 3), keepdim=True), train.std(dim=(0, 2, 3), keepdim=True)
    return (raw.float() / 255 - mean) / std


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_formats_load_through_torchvision(tmp_path: Path, name: str, folder: str) -> None:
    arrays = _write_mnist(tmp_path, folder)
    d = load_dataset(name, root=tmp_path)
    (train_images, train_labels), (test_images, test_labels) = arrays["train"], arrays["t10k"]
    assert d.train_x.shape == (12, 1, 28, 28) and d.test_x.shape == (5, 1, 28, 28)
    assert d.train_y.tolist() == train_labels.tolist() and d.test_y.tolist() == test_labels.tolist()
    raw_train = torch.from_numpy(train_images).unsqueeze(1)
    torch.testing.assert_close(d.train_x, _standardised(raw_train, raw_train))
    torch.testing.assert_close(d.test_x, _standardised(raw_train, torch.from_numpy(test_images).unsqueeze(1)))
    assert d.num_classes == 10 and not d.augment


def _write_cifar10(root: Path, per_batch: int = 3, n_test: int = 4) -> tuple[np.ndarray, list[int]]:
    """A tiny CIFAR-10 in its python pickle batches: rows of 3,072 bytes, channel-major (R, G, B)."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_rows, train_labels = [], []
    for k, n in enumerate([per_batch] * 5 + [n_test]):
        rows = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        name = f"data_batch_{k + 1}" if k < 5 else "test_batch"
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": rows, "labels": labels}, f)
        if k < 5:
            train_rows.append(rows)
            train_labels += labels
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)
    return np.concatenate(train_rows), train_labels


def test_cifar10_format_loads_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as cifar

    train_rows, train_labels = _write_cifar10(tmp_path)
    # The fixture's bytes cannot match the real files' md5 sums: only the checksum comparison is
    # patched (the files must still exist); torchvision's pickle reader runs unchanged.
    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    d = load_dataset("cifar10", root=tmp_path)
    assert d.train_x.shape == (15, 3, 32, 32) and d.test_x.shape == (4, 3, 32, 32)
    assert d.train_y.tolist() == train_labels
    assert d.augment  # pad 4, random crop, flip, as the paper trains CIFAR-10
    raw = torch.from_numpy(train_rows).reshape(15, 3, 32, 32)
    torch.testing.assert_close(d.train_x, _standardised(raw, raw))
    x, _ = Batches(d, 8, seed=0).next()
    assert x.shape == (8, 3, 32, 32)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_copy_offline_names_the_offline_sets(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=f"no local copy of {name} under .*download=True.*"
                                         "offline data sets: spirals, digits, mnist1d"):
        load_dataset(name, root=tmp_path, download=False)
    assert OFFLINE == ("spirals", "digits", "mnist1d")


def test_data_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_mnist(tmp_path, "MNIST")
    monkeypatch.setenv("GFL_DATA", str(tmp_path))
    assert load_dataset("mnist").train_x.shape == (12, 1, 28, 28)


# --- batches and augmentation -------------------------------------------------------------------


def _indexed(n: int) -> Dataset:
    """A data set whose samples are their own indices, to read the batch order off the batches."""
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    return Dataset("spirals", x, torch.zeros(n, dtype=torch.long), x[:2], torch.zeros(2, dtype=torch.long), 2)


def _order(batches: Batches, count: int) -> list[list[int]]:
    return [batches.next()[0].squeeze(1).long().tolist() for _ in range(count)]


def test_batches_are_seeded() -> None:
    data = _indexed(50)
    assert _order(Batches(data, 8, seed=3), 12) == _order(Batches(data, 8, seed=3), 12)
    assert _order(Batches(data, 8, seed=3), 12) != _order(Batches(data, 8, seed=4), 12)


def test_each_epoch_is_a_permutation_without_the_partial_batch() -> None:
    batches = Batches(_indexed(10), 4, seed=0)
    epochs = [sum(_order(batches, 2), []) for _ in range(3)]
    for epoch in epochs:
        assert len(epoch) == 8 and len(set(epoch)) == 8  # 8 distinct samples; the last 2 wait for later
    assert epochs[0] != epochs[1]


def test_batch_larger_than_the_data_set_takes_it_all() -> None:
    batches = Batches(_indexed(6), 100, seed=0)
    assert sorted(_order(batches, 1)[0]) == list(range(6))


def _crop_matches(x: torch.Tensor, out: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample, which (dy, dx) crops of the padded image equal the output, unflipped and flipped."""
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    crops = padded.unfold(2, h, 1).unfold(3, w, 1)  # (B, C, 2p+1, 2p+1, H, W)
    plain = (crops == out[:, :, None, None]).all(dim=(1, 4, 5))  # (B, 2p+1, 2p+1)
    flipped = (crops == out.flip(-1)[:, :, None, None]).all(dim=(1, 4, 5))
    return plain, flipped


def test_augment_crop_flip_is_a_crop_of_the_padded_image_flipped_half_the_time() -> None:
    x = torch.randn(400, 2, 6, 5, generator=torch.Generator().manual_seed(0))
    out = augment_crop_flip(x, torch.Generator().manual_seed(1), pad=4)
    assert out.shape == x.shape and out.is_contiguous()
    plain, flipped = _crop_matches(x, out, pad=4)
    n_plain, n_flipped = plain.flatten(1).sum(1), flipped.flatten(1).sum(1)
    assert ((n_plain + n_flipped) == 1).all()  # every output is exactly one crop, flipped or not
    assert 160 <= int((n_flipped == 1).sum()) <= 240  # half, within 4 standard deviations
    offsets = (plain | flipped).nonzero()[:, 1:]
    assert len(torch.unique(offsets, dim=0)) == 81  # every (dy, dx) in [0, 8]^2 occurs


def test_augmentation_is_seeded() -> None:
    x = torch.randn(16, 3, 8, 8)
    a = augment_crop_flip(x, torch.Generator().manual_seed(5))
    b = augment_crop_flip(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, augment_crop_flip(x, torch.Generator().manual_seed(6)))
