"""Named, ready-made configurations: each one shows one effect on a laptop CPU in seconds."""

from __future__ import annotations

from dataclasses import dataclass

from resnet.checks import choice
from resnet.trainer import ModelSpec, TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named configuration with the steps it needs and what it shows."""

    slug: str
    title: str
    summary: str
    config: TrainConfig
    steps: int


PRESETS: dict[str, Preset] = {p.slug: p for p in (
    Preset(
        "vanishing", "Vanishing gradients (tanh MLP)",
        "50 tanh units, no normalisation, PyTorch's default init, on 2-D spirals. The plain stack's first "
        "block gets ~1e-11 of its last block's gradient and never leaves chance; the residual twin keeps "
        "gradients of one size and fits the spirals.",
        TrainConfig(model=ModelSpec(family="mlp", depth=50, width=64, act="tanh", norm="none"),
                    dataset="spirals", lr=0.01, weight_decay=0.0, batch_size=128, test_every=25),
        steps=400,
    ),
    Preset(
        "relu-explodes", "ReLU without normalisation",
        "50 ReLU units, no normalisation: the plain stack vanishes (~1e-18), while the residual twin's "
        "additions pile up variance and its forward signal explodes (last-block gradients ~1e5).",
        TrainConfig(model=ModelSpec(family="mlp", depth=50, width=64, act="relu", norm="none"),
                    dataset="spirals", lr=1e-4, weight_decay=0.0, batch_size=128, test_every=25),
        steps=200,
    ),
    Preset(
        "bn-explodes", "Batch norm: plain gradients explode",
        "A 56-layer CIFAR-style net with batch normalisation on 16x16 digits. At initialisation nothing "
        "vanishes: the plain net's first block gets about 1,000x the gradient of its last (its first conv "
        "~2,000x its last conv; Yang et al. 2019), while the residual twin's ratio stays under 10. Training "
        "rebalances the plain net within a few dozen steps: watch the heatmap's first columns, and the "
        "residual twin's error fall faster.",
        TrainConfig(model=ModelSpec(family="cnn", depth=56, width=8), dataset="digits", lr=0.01,
                    batch_size=64, test_every=25),
        steps=200,
    ),
    Preset(
        "degradation", "Degradation (56 layers)",
        "The paper's recipe (SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128) on digits, 56 layers, "
        "width 8: the plain net trains worse than its residual twin although it has the same parameters. "
        "The Degradation page compares depths 20 and 56.",
        TrainConfig(model=ModelSpec(family="cnn", depth=56, width=8), dataset="digits", lr=0.1,
                    batch_size=128, test_every=50),
        steps=400,
    ),
)}


def get_preset(slug: str) -> Preset:
    """The preset named `slug`, or a ValueError listing the names."""
    return PRESETS[choice("preset", slug, tuple(PRESETS))]
