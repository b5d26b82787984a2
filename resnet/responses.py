"""Fig. 7 of He et al. 2015: the std of each layer's response, after BN and before the addition/ReLU.

The blocks expose that point as identity taps (`response1`, `response2`, `response3`); a forward
hook on each tap reads it, in layer order, input to output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from resnet.nets import ResidualNet

TAPS = ("response1", "response2", "response3")


@dataclass(frozen=True)
class Responses:
    """Std of every layer's response, input to output; names like "stage1.0.conv1"."""

    names: list[str]
    std: np.ndarray  # (L,) float64

    def sorted_desc(self) -> np.ndarray:
        """The stds sorted by magnitude, largest first (the paper's bottom panel)."""
        return np.sort(self.std)[::-1]


def response_taps(model: ResidualNet) -> list[tuple[str, torch.nn.Module]]:
    """(name, tap module) of every layer response in the network, in layer order."""
    names = model.block_names()
    taps = []
    for block_name, block in zip(names, model.blocks, strict=True):
        for k, tap in enumerate(TAPS, start=1):
            if hasattr(block, tap):
                taps.append((f"{block_name}.conv{k}" if hasattr(block, f"conv{k}") else f"{block_name}.fc",
                             getattr(block, tap)))
    return taps


@torch.no_grad()
def layer_response_std(model: ResidualNet, x: torch.Tensor, *, train_mode: bool = False) -> Responses:
    """Std of each layer's response on batch `x`.

    A trained net is read in eval mode (BN with its running statistics), as it is used; an
    initial net's running statistics are still the defaults, so read it with `train_mode=True`
    (BN normalises with the batch's own statistics).
    """
    if not isinstance(model, ResidualNet):
        raise ValueError("layer_response_std needs a ResidualNet (from resnet.nets); got " + type(model).__name__)
    if len(x) < 2:
        raise ValueError(f"layer_response_std needs a batch of at least 2 samples, got {len(x)}")
    taps = response_taps(model)
    stds: list[torch.Tensor] = []
    hooks = [tap.register_forward_hook(lambda _m, _i, out: stds.append(out.float().std(correction=0)))
             for _, tap in taps]
    was_training = model.training
    # BN's running statistics must not move while we look, even in train mode.
    momenta = {m: m.momentum for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    try:
        model.train(train_mode)
        for m in momenta:
            m.momentum = 0.0
        model(x.to(next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
    return Responses(names=[n for n, _ in taps], std=torch.stack(stds).double().cpu().numpy())


RESPONSE_SAMPLES = 500  # test images a trained net's responses are measured on


def save_responses(store, run_id: int, trainer) -> None:
    """Store a trained net's Fig. 7 responses on test images (eval mode, as the net is used)."""
    responses = layer_response_std(trainer.model, trainer.data.test_x[:RESPONSE_SAMPLES])
    store.save_responses(run_id, responses.names, responses.std)
