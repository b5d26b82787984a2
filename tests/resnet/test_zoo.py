"""The zoo: published parameter counts, blocks found by type, exact shortcut switches, the trainer and ModelSpec."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import resnet as tv_resnet

from resnet import zoo
from resnet.foreign import ForeignNet, SwitchableBasicBlock, SwitchableBottleneck
from resnet.nets import ResidualNet
from resnet.trainer import ModelSpec, TrainConfig, Trainer, twin_trainers

# torchvision's documentation (weights tables) and the papers: ResNeXt-50 32x4d (Xie et al. 2017),
# Wide ResNet-50-2 (Zagoruyko & Komodakis 2016), DenseNet-121 (Huang et al. 2017).
PUBLISHED = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
             "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "wide_resnet50_2": 68_883_240,
             "densenet121": 7_978_856, "cifar_resnet20": 269_722, "cifar_resnet110": 1_727_962}
# Blocks per model: torchvision's layer lists; DenseNet-121: 6+12+24+16 dense layers and 3 transitions.
BLOCKS = {"resnet18": 8, "resnet50": 16, "resnet152": 50, "resnext50_32x4d": 16, "densenet121": 61,
          "cifar_resnet56": 27}


def meta(name: str, **kw) -> ResidualNet:
    """A zoo model on the meta device: shapes only."""
    with torch.device("meta"):
        return zoo.model(name, **kw)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_match_the_published_ones(name: str) -> None:
    assert zoo.parameter_count(meta(name)) == PUBLISHED[name]


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_blocks_are_found_by_type_and_named_by_module_path(name: str) -> None:
    net = meta(name)
    assert isinstance(net, ResidualNet)
    assert len(net.blocks) == len(net.block_names()) == BLOCKS[name]
    modules = dict(net.named_modules())
    if name.startswith("cifar"):
        assert net.block_names()[:2] == ["stage1.0", "stage1.1"]
        return
    for path, block in zip(net.block_names(), net.blocks, strict=True):
        assert modules[path] is block  # the name is where the block sits in the model
    if name != "densenet121":
        assert net.block_names()[-1] == f"layer4.{len(net.layer4) - 1}"


def test_state_dict_keys_stay_torchvision_s() -> None:
    net = meta("resnet18")
    reference = tv_resnet.resnet18(weights=None).state_dict()
    assert list(net.state_dict()) == list(reference)  # no "blocks." duplicates, no wrapper prefix


def test_num_classes_replaces_the_head() -> None:
    assert meta("resnet50", num_classes=10).fc.out_features == 10
    assert meta("densenet121", num_classes=7).classifier.out_features == 7
    assert meta("cifar_resnet20").head[-1].out_features == 10


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet18, .*densenet121, cifar_resnet20"):
        zoo.model("resnet200")
    with pytest.raises(ValueError, match="num_classes"):
        zoo.model("resnet18", num_classes=1)


def _tiny_bottleneck_net() -> ForeignNet:
    """A torchvision ResNet of grouped bottlenecks (ResNeXt's kind), small enough to compute."""
    torch.manual_seed(0)
    return ForeignNet(tv_resnet.ResNet(tv_resnet.Bottleneck, [1, 1, 1, 1], num_classes=3, groups=2,
                                       width_per_group=8), "tiny-resnext")


def _by_hand(block, x: torch.Tensor) -> torch.Tensor:
    """relu(F(x)) written out from the block's layers, without its forward."""
    if isinstance(block, SwitchableBottleneck):
        out = F.relu(block.bn1(block.conv1(x)))
        out = F.relu(block.bn2(block.conv2(out)))
        return F.relu(block.bn3(block.conv3(out)))
    return F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))


@pytest.mark.parametrize("build", ["resnet18", "bottleneck"])
def test_a_switched_off_block_computes_relu_of_f_exactly(build: str) -> None:
    torch.manual_seed(0)
    net = zoo.model("resnet18", num_classes=3) if build == "resnet18" else _tiny_bottleneck_net()
    net.eval()
    kinds = {SwitchableBasicBlock, SwitchableBottleneck}
    assert {type(b) for b in net.blocks} <= kinds
    with torch.no_grad():
        for i, block in enumerate(net.blocks):
            x = torch.randn(2, block.conv1.in_channels, 8, 8)
            original = type(block).__mro__[1].forward(block, x)  # torchvision's own forward
            assert torch.equal(block(x), original)
            net.set_shortcut(i, False)
            assert torch.equal(block(x), _by_hand(block, x))
            assert not torch.equal(block(x), original)
    assert net.shortcuts() == [False] * len(net.blocks)


def test_a_switch_takes_effect_from_the_next_forward_mid_training() -> None:
    config = TrainConfig(model=ModelSpec(arch="resnet18"), batch_size=8, test_every=1000, lr=0.01)
    trainer = Trainer(config, total_steps=4)
    try:
        trainer.step()
        block = trainer.model.blocks[3]  # layer2.1: an identity shortcut
        seen = []

        def check(module, args, out) -> None:  # before the optimiser moves the weights
            with torch.no_grad():
                seen.append(torch.equal(out, _by_hand(module, args[0])))

        handle = block.register_forward_hook(check)
        trainer.set_shortcut(3, False)
        trainer.step()
        handle.remove()
        assert seen == [True]
        assert trainer.model.shortcuts()[3] is False and trainer.events == [(1, 3, False)]
    finally:
        trainer.close()


def test_densenet_is_probed_but_has_no_switch() -> None:
    net = meta("densenet121")
    with pytest.raises(ValueError, match="concatenations"):
        net.set_shortcut(0, False)
    with pytest.raises(ValueError, match="concatenations"):
        net.set_shortcut(None, False)
    with pytest.raises(ValueError, match="no plain twin"):
        ModelSpec(arch="densenet121", residual=False)
    flags = net.shortcuts()
    assert flags.count(False) == 3  # the three transitions have no skip; dense layers concatenate


def test_the_twin_of_a_zoo_model_has_every_shortcut_off_and_the_same_weights() -> None:
    config = TrainConfig(model=ModelSpec(arch="resnet18", input_size=32), batch_size=4, test_every=1000)
    plain, residual = twin_trainers(config, total_steps=2)
    try:
        assert plain.model.shortcuts() == [False] * 8 and residual.model.shortcuts() == [True] * 8
        for (k, a), b in zip(plain.model.state_dict().items(), residual.model.state_dict().values(), strict=True):
            assert torch.equal(a, b), k
        assert plain.data.sample_shape == (3, 32, 32)
        assert plain.step() and residual.step()
        assert plain.probe.history().input_grad_norm.shape == (1, 8)
    finally:
        plain.close()
        residual.close()


def test_model_spec_describes_a_zoo_model_and_old_configs_still_load() -> None:
    spec = ModelSpec(arch="resnext50_32x4d", input_size=64)
    config = TrainConfig(model=spec)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert spec.label == "resnext50_32x4d" and ModelSpec(arch="resnet18", residual=False).label == "resnet18-plain"
    assert spec.block_names()[0] == "layer1.0" and len(spec.block_names()) == 16
    old = TrainConfig().to_dict()
    for key in ("zero_pad", "arch", "input_size"):
        del old["model"][key]  # a config stored before these fields existed
    assert TrainConfig.from_dict(old) == TrainConfig()
    assert TrainConfig.from_dict(old).model.zero_pad == "end"
    with pytest.raises(ValueError, match="arch"):
        ModelSpec(arch="vgg16")
    with pytest.raises(ValueError, match="input_size"):
        ModelSpec(arch="resnet18", input_size=8)
    with pytest.raises(ValueError, match="input_size applies"):
        ModelSpec(input_size=32)
    with pytest.raises(ValueError, match="zero_pad"):
        ModelSpec(zero_pad="middle")
