"""Bad input: every knob refuses a bad value with a ValueError that says what is valid."""

from __future__ import annotations

import math

import pytest

from resnet.checks import choice, float_in, int_in
from resnet.data import Batches, load_dataset
from resnet.devices import available_devices, resolve_device
from resnet.nets import cifar_resnet, mlp_stack, valid_cnn_depths
from resnet.trainer import ModelSpec, TrainConfig, Trainer

LAYERS = "choose one of: relu, tanh, sigmoid"
NORMS = "choose one of: batch, none"


def _cases(prefix: str, *rows):
    """pytest params from (id, callable, message regex) rows."""
    return [pytest.param(fn, message, id=f"{prefix}-{name}") for name, fn, message in rows]


def _mlp(**kw):
    return mlp_stack(**{"depth": 2, "width": 4, "in_features": 3, "num_classes": 2, **kw})


CIFAR_RESNET = _cases(
    "cifar_resnet",
    ("depth-21", lambda: cifar_resnet(21), r"depth 21 is not 6n\+2 for basic blocks; try 20 or 26"),
    ("depth-57", lambda: cifar_resnet(57), r"depth 57 is not 6n\+2 for basic blocks; try 56 or 62"),
    ("depth-2", lambda: cifar_resnet(2), r"depth 2 is not 6n\+2 for basic blocks; try 8 or 14"),
    ("bottleneck-100", lambda: cifar_resnet(100, block="bottleneck"),
     r"depth 100 is not 9n\+2 for bottleneck blocks; try 92 or 101"),
    ("bottleneck-21", lambda: cifar_resnet(21, block="bottleneck"),
     r"depth 21 is not 9n\+2 for bottleneck blocks; try 20 or 29"),
    ("depth-0", lambda: cifar_resnet(0), "depth must be between 1 and 218, got 0"),
    ("depth-negative", lambda: cifar_resnet(-20), "depth must be between 1 and 218, got -20"),
    ("depth-huge", lambda: cifar_resnet(1202), "depth must be between 1 and 218, got 1202"),
    ("depth-float", lambda: cifar_resnet(20.0), "depth must be an integer between 1 and 218, got 20.0"),
    ("depth-bool", lambda: cifar_resnet(True), "depth must be an integer between 1 and 218, got True"),
    ("depth-str", lambda: cifar_resnet("20"), "depth must be an integer between 1 and 218, got '20'"),
    ("block", lambda: cifar_resnet(20, block="wide"), "unknown block 'wide'; choose one of: basic, bottleneck"),
    ("shortcut", lambda: cifar_resnet(20, shortcut="D"), "unknown shortcut 'D'; choose one of: A, B, C"),
    ("shortcut-lower", lambda: cifar_resnet(20, shortcut="a"), "unknown shortcut 'a'; choose one of: A, B, C"),
    ("norm", lambda: cifar_resnet(20, norm="layer"), f"unknown norm 'layer'; {NORMS}"),
    ("act", lambda: cifar_resnet(20, act="gelu"), f"unknown act 'gelu'; {LAYERS}"),
    ("width-0", lambda: cifar_resnet(20, width=0), "width must be between 1 and 64, got 0"),
    ("width-huge", lambda: cifar_resnet(20, width=65), "width must be between 1 and 64, got 65"),
    ("width-float", lambda: cifar_resnet(20, width=16.0), "width must be an integer"),
    ("in-channels", lambda: cifar_resnet(20, in_channels=0), "in_channels must be between 1 and 16, got 0"),
    ("classes-1", lambda: cifar_resnet(20, num_classes=1), "num_classes must be between 2 and 1000, got 1"),
    ("classes-huge", lambda: cifar_resnet(20, num_classes=10**6), "num_classes must be between 2 and 1000"),
    ("residual", lambda: cifar_resnet(20, residual="no"), "residual must be True or False, got 'no'"),
    ("preact", lambda: cifar_resnet(20, preact=1), "preact must be True or False, got 1"),
)

MLP_STACK = _cases(
    "mlp_stack",
    ("depth-0", lambda: _mlp(depth=0), "depth must be between 1 and 200, got 0"),
    ("depth-huge", lambda: _mlp(depth=201), "depth must be between 1 and 200, got 201"),
    ("depth-nan", lambda: _mlp(depth=math.nan), "depth must be an integer between 1 and 200, got nan"),
    ("width-0", lambda: _mlp(width=0), "width must be between 1 and 1024, got 0"),
    ("width-huge", lambda: _mlp(width=4096), "width must be between 1 and 1024, got 4096"),
    ("width-bool", lambda: _mlp(width=False), "width must be an integer between 1 and 1024, got False"),
    ("in-features", lambda: _mlp(in_features=0), "in_features must be between 1 and 65536, got 0"),
    ("classes", lambda: _mlp(num_classes=1), "num_classes must be between 2 and 1000, got 1"),
    ("norm", lambda: _mlp(norm="group"), f"unknown norm 'group'; {NORMS}"),
    ("act", lambda: _mlp(act="swish"), f"unknown act 'swish'; {LAYERS}"),
    ("residual", lambda: _mlp(residual=None), "residual must be True or False, got None"),
    ("preact", lambda: _mlp(preact="yes"), "preact must be True or False, got 'yes'"),
)

MODEL_SPEC = _cases(
    "ModelSpec",
    ("family", lambda: ModelSpec(family="rnn"), "unknown model family 'rnn'; choose one of: cnn, mlp"),
    ("cnn-depth", lambda: ModelSpec(depth=21), r"depth 21 is not 6n\+2 for basic blocks; try 20 or 26"),
    ("cnn-bottleneck-depth", lambda: ModelSpec(depth=20 + 6, block="bottleneck"),
     r"depth 26 is not 9n\+2 for bottleneck blocks; try 20 or 29"),
    ("cnn-depth-huge", lambda: ModelSpec(depth=1202), "depth must be between 1 and 218, got 1202"),
    ("cnn-width", lambda: ModelSpec(width=128), "width must be between 1 and 64, got 128"),
    ("mlp-depth-0", lambda: ModelSpec(family="mlp", depth=0), "depth must be between 1 and 200, got 0"),
    ("mlp-depth-huge", lambda: ModelSpec(family="mlp", depth=500), "depth must be between 1 and 200, got 500"),
    ("mlp-width", lambda: ModelSpec(family="mlp", width=-1), "width must be between 1 and 1024, got -1"),
    ("block", lambda: ModelSpec(block="wide"), "unknown block 'wide'; choose one of: basic, bottleneck"),
    ("shortcut", lambda: ModelSpec(shortcut="E"), "unknown shortcut 'E'; choose one of: A, B, C"),
    ("norm", lambda: ModelSpec(norm="instance"), f"unknown norm 'instance'; {NORMS}"),
    ("act", lambda: ModelSpec(act="elu"), f"unknown act 'elu'; {LAYERS}"),
    ("residual", lambda: ModelSpec(residual="False"), "residual must be True or False, got 'False'"),
    ("preact", lambda: ModelSpec(preact=0), "preact must be True or False, got 0"),
)

TRAIN_CONFIG = _cases(
    "TrainConfig",
    ("model", lambda: TrainConfig(model={"depth": 20}), "model must be a ModelSpec"),
    ("dataset", lambda: TrainConfig(dataset="imagenet"),
     "unknown dataset 'imagenet'; choose one of: spirals, digits, mnist1d, mnist, fashion_mnist, cifar10"),
    ("optimizer", lambda: TrainConfig(optimizer="rmsprop"), "unknown optimizer 'rmsprop'; choose one of: sgd, adam"),
    ("schedule", lambda: TrainConfig(schedule="linear"),
     "unknown schedule 'linear'; choose one of: constant, step, cosine"),
    ("lr-0", lambda: TrainConfig(lr=0), r"lr must be in \(0, 10000\], got 0"),
    ("lr-negative", lambda: TrainConfig(lr=-0.1), r"lr must be in \(0, 10000\], got -0.1"),
    ("lr-huge", lambda: TrainConfig(lr=1e5), r"lr must be in \(0, 10000\], got 100000"),
    ("lr-nan", lambda: TrainConfig(lr=math.nan), "lr must be a finite number, got nan"),
    ("lr-inf", lambda: TrainConfig(lr=math.inf), "lr must be a finite number, got inf"),
    ("lr-bool", lambda: TrainConfig(lr=True), "lr must be a finite number, got True"),
    ("lr-str", lambda: TrainConfig(lr="0.1"), "lr must be a finite number, got '0.1'"),
    ("momentum-negative", lambda: TrainConfig(momentum=-0.1), r"momentum must be in \[0, 0.999\], got -0.1"),
    ("momentum-1", lambda: TrainConfig(momentum=1.0), r"momentum must be in \[0, 0.999\], got 1"),
    ("weight-decay", lambda: TrainConfig(weight_decay=-1e-4), r"weight decay must be in \[0, 1\], got -0.0001"),
    ("weight-decay-nan", lambda: TrainConfig(weight_decay=math.nan), "weight decay must be a finite number"),
    ("warmup", lambda: TrainConfig(warmup_steps=-1), "warmup steps must be between 0 and 100000, got -1"),
    ("batch-0", lambda: TrainConfig(batch_size=0), "batch size must be between 1 and 1024, got 0"),
    ("batch-huge", lambda: TrainConfig(batch_size=4096), "batch size must be between 1 and 1024, got 4096"),
    ("batch-float", lambda: TrainConfig(batch_size=128.0), "batch size must be an integer"),
    ("seed", lambda: TrainConfig(seed=-1), "seed must be between 0 and 2147483647, got -1"),
    ("test-every", lambda: TrainConfig(test_every=0), "test_every must be between 1 and 100000, got 0"),
    ("device", lambda: TrainConfig(device="tpu"), "unknown device 'tpu'; choose one of: auto, cuda, mps, cpu"),
    ("amp", lambda: TrainConfig(amp="on"), "amp must be True or False, got 'on'"),
    ("channels-last", lambda: TrainConfig(channels_last=1), "channels_last must be True or False, got 1"),
    ("download", lambda: TrainConfig(download="yes"), "download must be True or False, got 'yes'"),
    ("replace", lambda: TrainConfig().replace(depth=33), r"depth 33 is not 6n\+2 for basic blocks; try 32 or 38"),
)

DATA = _cases(
    "data",
    ("dataset", lambda: load_dataset("imagenet"),
     "unknown dataset 'imagenet'; choose one of: spirals, digits, mnist1d, mnist, fashion_mnist, cifar10"),
    ("channels", lambda: load_dataset("digits", channels=2), "unknown channels 2; choose one of: 1, 3"),
    ("image-size-small", lambda: load_dataset("digits", image_size=4), "image_size must be between 8 and 64, got 4"),
    ("image-size-huge", lambda: load_dataset("digits", image_size=512),
     "image_size must be between 8 and 64, got 512"),
    ("device", lambda: load_dataset("spirals", device="tpu"), "unknown device 'tpu'; use cpu, cuda, cuda:N or mps"),
    ("download", lambda: load_dataset("mnist", download="no"), "download must be True or False, got 'no'"),
    ("batch-0", lambda: Batches(load_dataset("spirals"), 0, seed=0), "batch size must be between 1 and 4096, got 0"),
)

SPIRALS_MLP = TrainConfig(model=ModelSpec(family="mlp", depth=2, width=4), dataset="spirals")

TRAINER = _cases(
    "Trainer",
    ("steps-0", lambda: Trainer(SPIRALS_MLP, total_steps=0), "steps must be between 1 and 100000, got 0"),
    ("steps-negative", lambda: Trainer(SPIRALS_MLP, total_steps=-5), "steps must be between 1 and 100000, got -5"),
    ("steps-huge", lambda: Trainer(SPIRALS_MLP, total_steps=10**7), "steps must be between 1 and 100000"),
    ("steps-float", lambda: Trainer(SPIRALS_MLP, total_steps=10.5), "steps must be an integer"),
    ("cnn-on-points", lambda: Trainer(SPIRALS_MLP.replace(family="cnn", depth=8), total_steps=1),
     "a CNN needs an image data set; 'spirals' is not one"),
    ("absent-device", lambda: resolve_device(next(d for d in ("cuda", "mps") if d not in available_devices())),
     "device '(cuda|mps)' is not available here; available: .*cpu"),
    ("unknown-device", lambda: resolve_device("gpu"), "unknown device 'gpu'; choose one of: auto, cuda, mps, cpu"),
)


@pytest.mark.parametrize(("build", "message"), CIFAR_RESNET + MLP_STACK)
def test_network_builders_refuse_bad_knobs(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(("build", "message"), MODEL_SPEC + TRAIN_CONFIG)
def test_configs_refuse_bad_knobs(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(("build", "message"), DATA + TRAINER)
def test_data_and_trainer_refuse_bad_knobs(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_valid_depths_are_the_papers() -> None:
    assert valid_cnn_depths("basic")[:5] == [8, 14, 20, 26, 32]
    assert {20, 32, 44, 56, 110} <= set(valid_cnn_depths("basic"))
    assert 164 in valid_cnn_depths("bottleneck")  # He et al. 2016's ResNet-164
    assert valid_cnn_depths("basic", near=21) == [20, 26]
    assert valid_cnn_depths("basic", near=1000) == [212, 218]  # never past the upper bound


def test_boundaries_are_accepted() -> None:
    assert ModelSpec(family="mlp", depth=200, width=1024).depth == 200
    assert ModelSpec(depth=218, width=64).depth == 218
    assert TrainConfig(lr=1e4, momentum=0.0, weight_decay=0.0, batch_size=1024).lr == 1e4
    assert TrainConfig(momentum=0.999, weight_decay=1.0).momentum == 0.999


def test_check_helpers_say_what_is_valid() -> None:
    assert choice("colour", "red", ("red", "blue")) == "red"
    with pytest.raises(ValueError, match="unknown colour 'green'; choose one of: red, blue"):
        choice("colour", "green", ("red", "blue"))
    assert int_in("n", 3, 1, 3) == 3
    with pytest.raises(ValueError, match="n must be between 1 and 3, got 4"):
        int_in("n", 4, 1, 3)
    assert float_in("x", 0.0, 0.0, 1.0, lo_open=False) == 0.0
    with pytest.raises(ValueError, match=r"x must be in \(0, 1\], got 0"):
        float_in("x", 0.0, 0.0, 1.0)
