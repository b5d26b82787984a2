"""Final weights: saved as torch.save bytes of tensors only, read back without unpickling anything else."""

from __future__ import annotations

import io

import torch

from resnet.data import Dataset
from resnet.nets import ResidualNet
from resnet.store.errors import StoreError, one_line


def state_dict_bytes(state_dict: dict[str, torch.Tensor]) -> bytes:
    """torch.save bytes of a state_dict's tensors, detached and on the CPU."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
    return buf.getvalue()


def read_state_dict(blob: bytes, what: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """Tensors from torch.save bytes with weights_only=True; anything else is one clear StoreError."""
    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean the same here
        raise StoreError(f"{what} is not a valid checkpoint ({one_line(err)})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise StoreError(f"{what} is not a valid checkpoint (expected a state_dict of named tensors)")
    return state


def build_net(config, sample_shape: tuple[int, ...], num_classes: int) -> ResidualNet:
    """A run's network, untrained, built from its config and data shapes alone."""
    # Only the shapes matter to build(): empty tensors stand in for the data set.
    stand_in = Dataset(config.dataset, torch.empty((0, *sample_shape)), torch.empty(0, dtype=torch.long),
                       torch.empty((0, *sample_shape)), torch.empty(0, dtype=torch.long), num_classes)
    return config.model.build(stand_in)
