"""Checkpoints: the PyTorch CIFAR ResNet layout with every quirk of real files, torchvision state dicts,
run files, and bad files refused in one line.

The reference network is the widely used PyTorch CIFAR ResNet, written here from its layout
(BasicBlock with an option A LambdaLayer that pads planes // 4 zero channels on both sides), not
taken from resnet/: the zoo must reproduce its logits from a file it saved.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from resnet import checkpoints, zoo
from resnet.checkpoints import CheckpointError, read_checkpoint
from resnet.nets import cifar_resnet
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig


class LambdaLayer(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class RefBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4),
                                                        "constant", 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class RefResNet(nn.Module):
    def __init__(self, num_blocks: int, num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, num_blocks, 1)
        self.layer2 = self._make_layer(32, num_blocks, 2)
        self.layer3 = self._make_layer(64, num_blocks, 2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(RefBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3]).view(out.size(0), -1)
        return self.linear(out)


def _trained_looking(net: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics and affine parameters, as a trained net has."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t in (m.weight, m.bias, m.running_mean):
                    t.copy_(torch.randn(t.shape, generator=g) * 0.3 + (1.0 if t is m.weight else 0.0))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net.eval()


def _claim_cuda(data: bytes) -> bytes:
    """A legacy file whose storages say they were saved on cuda:0 (no GPU is needed to write one)."""
    patched = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    assert patched != data
    return patched


def _quirky_file(tmp_path: Path, net: nn.Module) -> Path:
    """The reference net's weights as real checkpoints of that layout come: every quirk at once."""
    state = {f"module.{k}": v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    buf = io.BytesIO()
    torch.save({"epoch": 180, "state_dict": state, "best_prec1": 91.25}, buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "resnet20.th"
    path.write_bytes(_claim_cuda(buf.getvalue()))
    return path


def test_a_cifar_layout_checkpoint_with_every_quirk_reproduces_its_logits(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = _trained_looking(RefResNet(3))  # ResNet-20: n = 3
    path = _quirky_file(tmp_path, ref)
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really claims a CUDA device
        torch.load(path, weights_only=True)
    net = zoo.model("cifar_resnet20", weights=path).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x), rtol=1e-5, atol=1e-5)
        end_padded = zoo._build("cifar_resnet20", 10, zero_pad="end")
        end_padded.load_state_dict(net.state_dict())
        assert not torch.allclose(end_padded.eval()(x), ref(x), atol=1e-3)  # the placement matters
    notes = " | ".join(net.weights_info.notes)
    for quirk in ("legacy", "'state_dict' entry", "best_prec1", "'module.'", "num_batches_tracked", "CIFAR"):
        assert quirk in notes
    assert not net.weights_info.head_replaced and net.weights_info.file_classes == 10


def test_a_different_class_count_replaces_the_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = _trained_looking(RefResNet(3))
    net = zoo.model("cifar_resnet20", weights=_quirky_file(tmp_path, ref), num_classes=4)
    assert net.weights_info.head_replaced and net.head[-1].out_features == 4
    assert torch.equal(net.stem[0].weight, ref.conv1.weight)


def test_checkpoints_are_read_with_weights_only_onto_the_cpu(monkeypatch, tmp_path: Path) -> None:
    seen = {}
    real = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = tmp_path / "r18.pt"
    torch.save(models.resnet18(weights=None, num_classes=3).state_dict(), path)
    zoo.model("resnet18", weights=path)
    assert seen == {"map_location": "cpu", "weights_only": True}


def test_a_torchvision_state_dict_loads_and_names_a_wrong_arch(tmp_path: Path) -> None:
    torch.manual_seed(1)
    original = models.resnet18(weights=None, num_classes=6).eval()
    path = tmp_path / "r18.pth"
    torch.save(original.state_dict(), path)
    net = zoo.model("resnet18", weights=path).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), original(x))
    assert net.weights_info.notes == () and net.weights_info.file_classes == 6
    with pytest.raises(CheckpointError, match=r"does not fit resnet50: 'layer1.0.conv1.weight' is \(64, 64, 3, 3\)"):
        zoo.model("resnet50", weights=path)
    with pytest.raises(CheckpointError, match="does not fit resnet34: it has no 'layer1.2.conv1.weight'"):
        zoo.model("resnet34", weights=path)


def test_a_deeper_cifar_file_names_its_own_first_extra_key(tmp_path: Path) -> None:
    path = tmp_path / "resnet32.th"
    torch.save(RefResNet(5).state_dict(), path)
    with pytest.raises(CheckpointError, match="cifar_resnet20: its 'layer1.3.conv1.weight' is not in"):
        zoo.model("cifar_resnet20", weights=path)
    torch.save({"linear.weight": torch.zeros(10, 64)}, path)
    with pytest.raises(CheckpointError, match="it has no 'conv1.weight'"):
        zoo.model("cifar_resnet20", weights=path)


class Payload:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(_saved(models.resnet18(weights=None).state_dict())[:5000]), "truncated"),
    (lambda p: p.write_bytes(b"not a checkpoint at all"), "not a readable torch checkpoint"),
    (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a state dict"),
    (lambda p: torch.save([torch.zeros(3)], p), "holds a list"),
    (lambda p: torch.save({"epoch": 3, "arch": "resnet20"}, p), "entry 'epoch' is a int"),
    (lambda p: p.write_bytes(pickle.dumps({"w": Payload()}, protocol=2)), "holds pickled Python objects"),
    (lambda p: torch.save({"state_dict": {"w": Payload()}}, p), "holds pickled Python objects"),
])
def test_bad_files_are_refused_in_one_line(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.pt"
    path.write_bytes(b"\0" * 2048)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the limit"))
    with pytest.raises(CheckpointError, match="2,048 bytes; at most 1,024"):
        checkpoints.read_checkpoint(path, limit=1024)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        read_checkpoint(tmp_path / "missing.pt")


def test_a_run_file_of_our_own_loads_with_its_zero_padding(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = TrainConfig(model=ModelSpec(depth=20))  # zero_pad "end", as every run recorded before the field
    own = _trained_looking(cifar_resnet(20))
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run(config, total_steps=1, blocks=own.block_names(), layers=[], sample_shape=(3, 32, 32),
                              num_classes=10, device="cpu")
    store.save_weights(run_id, own.state_dict(), step=1)
    store.finish(run_id, "finished", seconds=1.0)
    path = store.export_run(run_id, tmp_path / "run.gfl")
    net = zoo.model("cifar_resnet20", weights=path).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), own(x))
    assert net.weights_info.notes == (f"weights of run {run_id} of run.gfl",)
    with pytest.raises(CheckpointError, match="run of another net"):
        zoo.model("cifar_resnet32", weights=path)
    with pytest.raises(CheckpointError, match="holds a run of a CIFAR ResNet, not resnet18"):
        zoo.model("resnet18", weights=path)
