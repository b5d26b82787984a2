"""Checkpoint files read safely and fitted to a network, with every quirk of real checkpoints undone.

Files are read with `torch.load(weights_only=True, map_location="cpu")` only: tensors and plain
containers, never arbitrary pickled objects, and tensors saved on a CUDA device land on the CPU.
Both torch formats load (zip, and the legacy pre-zip format of torch < 1.6). A state dict may be
wrapped with other entries (`{"state_dict": ..., "best_prec1": ...}`), carry DataParallel's
`module.` prefixes, or lack batch norm's `num_batches_tracked` (torch < 0.4.1). A file that does
not fit its network names the first key or shape that disagrees.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

MAX_CHECKPOINT_BYTES = 1 << 30  # 1 GiB: Wide ResNet-50-2 in float32 is 0.27 GB
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "state")  # where trainers nest the weights
PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
ZIP_MAGIC = b"PK\x03\x04"
SQLITE_MAGIC = b"SQLite format 3\x00"
# torchvision's DenseNet weights name "norm.1" what its modules call "norm1" (its _load_state_dict).
_DENSE_OLD = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    """A state dict read from a file, and what had to be undone to get it."""

    name: str  # the file's name, for messages
    state: dict[str, torch.Tensor]
    notes: tuple[str, ...] = ()  # e.g. "legacy (pre-zip) torch format", "DataParallel 'module.' prefixes removed"
    config: dict | None = None  # a run file's TrainConfig.to_dict(): how its net was built


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_bytes(source: str | os.PathLike | bytes, *, limit: int = MAX_CHECKPOINT_BYTES) -> tuple[str, bytes]:
    """(name, bytes) of a checkpoint file or buffer, refusing one over `limit` before reading it."""
    if isinstance(source, bytes | bytearray):
        if len(source) > limit:
            raise CheckpointError(f"the checkpoint is {len(source):,} bytes; at most {limit:,} are read")
        return "the checkpoint", bytes(source)
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    size = path.stat().st_size
    if size > limit:
        raise CheckpointError(f"{path.name} is {size:,} bytes; at most {limit:,} are read")
    return path.name, path.read_bytes()


def load_payload(data: bytes, name: str = "the checkpoint") -> object:
    """The object in torch.save bytes, read with weights_only=True onto the CPU; refusals in one line."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:  # a class or function to call on load: code, whatever it claims to be
            raise CheckpointError(f"{name} holds pickled Python objects ({found.group(1)}), not only tensors; "
                                  "refused (checkpoints are read with weights_only=True)") from None
        raise CheckpointError(f"{name} is not a readable torch checkpoint ({_unpickler_reason(err)})") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean the same here
        raise CheckpointError(f"{name} is not a readable torch checkpoint (truncated or not a torch.save file: "
                              f"{_one_line(err)})") from None


def _unpickler_reason(err: BaseException) -> str:
    """The line of a weights_only refusal that says what was wrong (torch's first line is advice)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Weights only load failed", "Please file", "Check the"))]
    return (useful[0] if useful else _one_line(err)).removeprefix("WeightsUnpickler error:").strip()


def _tensors(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def unwrap(payload: object, name: str = "the checkpoint") -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict inside `payload` (a state dict, or a dict that holds one) and what was undone."""
    notes: list[str] = []
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name} holds a {type(payload).__name__}, not a state dict of named tensors")
    state = payload
    if not _tensors(payload):
        inner = next((k for k in WRAPPER_KEYS if isinstance(payload.get(k), dict)), None)
        if inner is None:
            bad = next((k for k, v in payload.items() if not isinstance(v, torch.Tensor)), None)
            raise CheckpointError(f"{name} is not a state dict: entry {bad!r} is a "
                                  f"{type(payload.get(bad)).__name__}, not a tensor, and no "
                                  f"{' / '.join(WRAPPER_KEYS)} entry holds one")
        state = payload[inner]
        others = ", ".join(str(k) for k in payload if k != inner)
        notes.append(f"state dict taken from its {inner!r} entry" + (f" (beside {others})" if others else ""))
        if not _tensors(state):
            bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
            raise CheckpointError(f"{name}: entry {inner!r} is not a state dict (its {bad!r} is not a tensor)")
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            notes.append(f"{prefix!r} prefixes removed")
    if any(_DENSE_OLD.match(k) for k in state):
        state = {_DENSE_OLD.sub(r"\1\2", k): v for k, v in state.items()}
        notes.append("DenseNet's old key names (norm.1 for norm1) renamed")
    return dict(state), notes


def read_checkpoint(source: str | os.PathLike | bytes, *, limit: int = MAX_CHECKPOINT_BYTES) -> Checkpoint:
    """Read a checkpoint file (or its bytes) into a state dict; every refusal is one CheckpointError line."""
    name, data = read_bytes(source, limit=limit)
    if data.startswith(SQLITE_MAGIC):
        return _run_file(name, data)
    notes = [] if data.startswith(ZIP_MAGIC) else ["legacy (pre-zip) torch format"]
    state, more = unwrap(load_payload(data, name), name)
    return Checkpoint(name, state, tuple(notes + more))


def fit(model: nn.Module, state: dict[str, torch.Tensor], *, name: str = "the checkpoint",
        arch: str = "the model", skip: tuple[str, ...] = (), display: Callable[[str], str] = str) -> list[str]:
    """Load `state` into `model` if every key and shape agrees, else name the first that disagrees.

    Keys starting with a prefix in `skip` keep the model's own values (a replaced head); `display`
    names a key as the file does, where the file's layout was renamed. A missing
    `num_batches_tracked` keeps the model's count, which only momentum=None batch norm reads.
    Returns what was filled in.
    """
    own = model.state_dict()
    merged: dict[str, torch.Tensor] = {}
    filled = 0
    for key, tensor in own.items():
        if key.startswith(skip):
            merged[key] = tensor
            continue
        if key not in state:
            if key.endswith("num_batches_tracked"):
                merged[key] = tensor
                filled += 1
                continue
            raise CheckpointError(f"{name} does not fit {arch}: it has no {display(key)!r}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{name} does not fit {arch}: {display(key)!r} is {tuple(state[key].shape)} in "
                                  f"the file, {tuple(tensor.shape)} in {arch}")
        merged[key] = state[key]
    extra = next((k for k in state if k not in own and not k.startswith(skip)), None)
    if extra is not None:
        raise CheckpointError(f"{name} does not fit {arch}: its {display(extra)!r} is not in {arch}")
    model.load_state_dict(merged)
    return [f"{filled} num_batches_tracked counters missing (kept at 0)"] if filled else []


def _run_file(name: str, data: bytes) -> Checkpoint:
    """The newest stored weights of a run file (`python -m resnet runs export`), with their run's config."""
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as con:
            con.deserialize(data)  # the file's bytes, never the file itself: reading changes nothing
            row = con.execute("SELECT w.run, w.state_dict, r.config FROM weights w JOIN runs r ON r.id = w.run "
                              "ORDER BY w.run DESC LIMIT 1").fetchone()
    except sqlite3.Error as err:
        raise CheckpointError(f"{name} is not a run file ({_one_line(err)})") from None
    if row is None:
        raise CheckpointError(f"{name} is a run file without stored weights")
    run, blob, config = row
    what = f"run {run} of {name}"
    state, _ = unwrap(load_payload(blob, what), what)
    try:
        parsed = json.loads(config)
    except ValueError:
        raise CheckpointError(f"{what} has an unreadable config") from None
    return Checkpoint(name, state, (f"weights of {what}",), config=parsed if isinstance(parsed, dict) else None)
