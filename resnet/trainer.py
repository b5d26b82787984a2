"""Training: a frozen config, a step-wise Trainer the live views drive, and `train` for whole runs."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch._dynamo  # noqa: F401  (the first optimiser imports it: ~2 s paid here, not on the first Train press)
import torch.nn.functional as F

from resnet import zoo
from resnet.checks import choice, flag, float_in, int_in
from resnet.data import DATASETS, IMAGE_DATASETS, Batches, Dataset, error_on_test_set, load_dataset
from resnet.devices import resolve_device
from resnet.layers import ACTS, NORMS
from resnet.nets import (
    BLOCKS,
    MAX_CNN_WIDTH,
    MAX_MLP_DEPTH,
    MAX_MLP_WIDTH,
    ResidualNet,
    check_cnn_depth,
    cifar_block_names,
    cifar_resnet,
    mlp_block_name,
    mlp_stack,
)
from resnet.probes import Probe, ProbeHistory
from resnet.shortcuts import SHORTCUTS, ZERO_PADS
from resnet.zoo import MAX_INPUT_SIZE, MIN_INPUT_SIZE, TORCHVISION_MODELS

FAMILIES = ("cnn", "mlp")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine")
MAX_STEPS = 100_000
MAX_BATCH = 1024


@dataclass(frozen=True)
class ModelSpec:
    """Which network: family, depth and every architectural switch of the paper."""

    family: str = "cnn"  # "cnn": CIFAR-style ResNet (Sec. 4.2); "mlp": fully connected stack
    depth: int = 20  # cnn: 6n+2 (basic) or 9n+2 (bottleneck) layers; mlp: number of units
    residual: bool = True  # False: the plain twin, same layers without shortcuts
    block: str = "basic"  # "basic" (two 3x3) or "bottleneck" (1x1, 3x3, 1x1 x4); cnn only
    shortcut: str = "A"  # A: zero-pad identity, B: project on shape change, C: project always
    preact: bool = False  # True: full pre-activation (He et al. 2016)
    norm: str = "batch"  # "batch" or "none"
    act: str = "relu"  # "relu", "tanh" or "sigmoid"
    width: int = 16  # cnn: first-stage filters (paper: 16); mlp: hidden units
    zero_pad: str = "end"  # option A's new channels: after the old ones, or "both" sides (PyTorch CIFAR layout)
    arch: str = ""  # a torchvision model of resnet.zoo ("resnet18", ...): replaces family, depth and switches
    input_size: int = 0  # arch only: the side images are resized to (0: 32, the least every arch takes)

    def __post_init__(self) -> None:
        choice("model family", self.family, FAMILIES)
        flag("residual", self.residual)
        flag("preact", self.preact)
        choice("norm", self.norm, NORMS)
        choice("act", self.act, ACTS)
        choice("shortcut", self.shortcut, SHORTCUTS)
        choice("block", self.block, tuple(BLOCKS))
        choice("zero_pad", self.zero_pad, ZERO_PADS)
        if not isinstance(self.arch, str):
            raise ValueError(f"arch must be a torchvision model's name, or '' for none; got {self.arch!r}")
        int_in("input_size", self.input_size, 0, MAX_INPUT_SIZE)  # 0: the arch's default
        if self.arch:
            choice("arch", self.arch, TORCHVISION_MODELS)
            if self.family != "cnn":
                raise ValueError(f"arch {self.arch!r} is a CNN; its family must be 'cnn'")
            if self.input_size:
                int_in("input_size", self.input_size, MIN_INPUT_SIZE, MAX_INPUT_SIZE)
            if not self.residual and self.arch not in zoo.SWITCHABLE:
                raise ValueError(f"{self.arch} has no plain twin (residual=False): DenseNet's skips are "
                                 "concatenations, not switches")
        elif self.input_size:
            raise ValueError("input_size applies to an arch (a torchvision model) only")
        if self.family == "cnn":
            check_cnn_depth(self.depth, self.block)
            int_in("width", self.width, 1, MAX_CNN_WIDTH)
        else:
            int_in("depth", self.depth, 1, MAX_MLP_DEPTH)
            int_in("width", self.width, 1, MAX_MLP_WIDTH)

    def build(self, data: Dataset) -> ResidualNet:
        """The network for this spec, shaped for `data`."""
        if self.arch:
            if data.sample_shape[0] != 3:
                raise ValueError(f"{self.arch} takes 3-channel images; {data.name!r} has {data.sample_shape[0]}")
            net = zoo.model(self.arch, num_classes=data.num_classes)
            if not self.residual:
                net.set_shortcut(None, False)  # the plain twin: the same blocks computing relu(F(x))
            return net
        if self.family == "cnn":
            if not data.is_image:
                raise ValueError(f"a CNN needs an image data set; {data.name!r} is not one (use the MLP)")
            return cifar_resnet(self.depth, residual=self.residual, block=self.block, shortcut=self.shortcut,
                                preact=self.preact, norm=self.norm, act=self.act, width=self.width,
                                in_channels=data.sample_shape[0], num_classes=data.num_classes,
                                zero_pad=self.zero_pad)
        return mlp_stack(self.depth, residual=self.residual, width=self.width, in_features=data.in_features,
                         num_classes=data.num_classes, norm=self.norm, act=self.act, preact=self.preact)

    def block_names(self) -> list[str]:
        """The names the built net's blocks will have, without building it."""
        if self.arch:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                return zoo.model(self.arch, num_classes=2).block_names()
        if self.family == "cnn":
            return cifar_block_names(self.depth, self.block)
        return [mlp_block_name(i) for i in range(self.depth)]

    @property
    def label(self) -> str:
        """A short name such as "plain-56" or "res-20"."""
        if self.arch:
            return self.arch if self.residual else f"{self.arch}-plain"
        return f"{'res' if self.residual else 'plain'}-{self.depth}"

    def data_shape(self) -> dict:
        """How the data set must be reshaped for this net: load_dataset's channels and image_size."""
        if not self.arch:
            return {}
        return {"channels": 3, "image_size": self.input_size or MIN_INPUT_SIZE}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run; two equal configs give equal runs on one device."""

    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: str = "digits"  # offline by default, so a run works with no network
    optimizer: str = "sgd"  # SGD with momentum, as the paper; or Adam
    lr: float = 0.1  # paper: 0.1 for batch 128
    momentum: float = 0.9  # paper: 0.9 (SGD only)
    weight_decay: float = 1e-4  # paper: 1e-4
    schedule: str = "constant"  # "step": /10 at 50% and 75% of the steps (paper: 32k, 48k of 64k)
    warmup_steps: int = 0  # steps at lr/10 first (the paper's ResNet-110 warm-up: ~400)
    batch_size: int = 128  # paper: 128
    seed: int = 0
    device: str = "auto"  # cuda > mps > cpu
    test_every: int = 50  # steps between test-error evaluations
    amp: bool = False  # bf16 autocast, CUDA only
    channels_last: bool = False  # memory format for CNNs on CUDA
    data_root: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelSpec):
            raise ValueError("model must be a ModelSpec")
        choice("dataset", self.dataset, DATASETS)
        if self.model.family == "cnn" and self.dataset not in IMAGE_DATASETS:
            raise ValueError(f"a CNN needs an image data set; {self.dataset!r} is not one "
                             f"(choose {', '.join(IMAGE_DATASETS)}, or the MLP)")
        choice("optimizer", self.optimizer, OPTIMIZERS)
        choice("schedule", self.schedule, SCHEDULES)
        float_in("lr", self.lr, 0.0, 1e4)
        float_in("momentum", self.momentum, 0.0, 0.999, lo_open=False)
        float_in("weight decay", self.weight_decay, 0.0, 1.0, lo_open=False)
        int_in("warmup steps", self.warmup_steps, 0, MAX_STEPS)
        int_in("batch size", self.batch_size, 1, MAX_BATCH)
        if self.batch_size < 2 and (self.model.arch or (self.model.family == "mlp" and self.model.norm == "batch")):
            raise ValueError("batch size must be at least 2 with batch norm on an MLP or a torchvision net: "
                             "a batch of one gives it a single value per channel")
        int_in("seed", self.seed, 0, 2**31 - 1)
        int_in("test_every", self.test_every, 1, MAX_STEPS)
        choice("device", self.device, ("auto", "cuda", "mps", "cpu"))
        for name in ("amp", "channels_last", "download"):
            flag(name, getattr(self, name))

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes`; keys of ModelSpec go to the model."""
        model_keys = {f.name for f in dataclasses.fields(ModelSpec)}
        model_changes = {k: changes.pop(k) for k in list(changes) if k in model_keys}
        model = dataclasses.replace(self.model, **model_changes) if model_changes else self.model
        return dataclasses.replace(self, model=model, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of to_dict; unknown keys are refused."""
        d = dict(d)
        model = ModelSpec(**d.pop("model", {}))
        return cls(model=model, **d)


@dataclass
class RunResult:
    """A finished (or stopped, or diverged) run: curves, probe history, events, final model."""

    config: TrainConfig
    status: str  # "finished", "stopped", "diverged" or "failed"
    steps: int  # steps completed
    loss: np.ndarray  # (steps,) training loss per step
    train_error: np.ndarray  # (steps,) training error of each step's batch
    test_steps: np.ndarray  # (T,) steps at which the test set was scored
    test_error: np.ndarray  # (T,)
    history: ProbeHistory
    events: list[tuple[int, int | None, bool]]  # (step, block or None for all, on) shortcut switches
    seconds: float
    message: str = ""
    diverged_at: int | None = None
    model: torch.nn.Module | None = None


@lru_cache(maxsize=8)
def cached_dataset(name: str, device: str, root: str | None, download: bool, channels: int | None = None,
                   image_size: int | None = None) -> Dataset:
    """Data sets are read-only once loaded, so one copy per device (and shape) serves every run."""
    return load_dataset(name, root=root, download=download, device=device, channels=channels, image_size=image_size)


class Trainer:
    """One network training step by step, with a probe recording every step."""

    def __init__(self, config: TrainConfig, *, total_steps: int, model: ResidualNet | None = None) -> None:
        int_in("steps", total_steps, 1, MAX_STEPS)
        self.config = config
        self.total_steps = total_steps
        self.device = resolve_device(config.device)
        self.data = cached_dataset(config.dataset, str(self.device), config.data_root, config.download,
                                   **config.model.data_shape())
        torch.manual_seed(config.seed)
        self.model = (model or config.model.build(self.data)).to(self.device)
        if config.channels_last and self.device.type == "cuda" and config.model.family == "cnn":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batches = Batches(self.data, config.batch_size, config.seed)
        params = self.model.parameters()
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        self.probe = Probe(self.model).__enter__()
        self.step_count = 0
        self.loss: list[float] = []
        self.train_error: list[float] = []
        self.test_steps: list[int] = []
        self.test_error: list[float] = []
        self.events: list[tuple[int, int | None, bool]] = []
        self.status = "ready"
        self.message = ""
        self.diverged_at: int | None = None
        self.seconds = 0.0

    def lr_at(self, step: int) -> float:
        """Learning rate at `step` under the schedule (and warm-up)."""
        c = self.config
        if step < c.warmup_steps:
            return c.lr / 10
        if c.schedule == "step":
            return c.lr * (0.1 ** sum(step >= f * self.total_steps for f in (0.5, 0.75)))
        if c.schedule == "cosine":
            return c.lr * 0.5 * (1 + math.cos(math.pi * step / self.total_steps))
        return c.lr

    @property
    def done(self) -> bool:
        """Whether the run can take no more steps (finished its steps, diverged or failed)."""
        return self.step_count >= self.total_steps or self.status in ("diverged", "failed")

    def set_shortcut(self, i: int | None, on: bool) -> None:
        """Switch a shortcut (None: all) from the next step on, and mark it on the timeline."""
        self.model.set_shortcut(i, on)
        self.events.append((self.step_count, i, bool(on)))

    def step(self) -> bool:
        """Train one step; False once the run is done (diverged runs keep what they recorded)."""
        if self.done:
            return False
        t0 = time.perf_counter()
        if not self.model.training:  # Module.train() walks every submodule: 7% of a 50-block MLP's step
            self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step_count)
        x, y = self.batches.next()
        if self.config.channels_last and x.dim() == 4 and self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        self.model.taps.clear()  # drop anything a failed step left behind (the probe's own list stays)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._amp):
            logits = self.model(x)
            loss = F.cross_entropy(logits.float(), y)
        try:
            loss.backward()
        except torch.OutOfMemoryError:
            return self._fail("out of memory on the device: lower the batch size, width or depth")
        self.probe.step(self.step_count)
        error = (logits.argmax(dim=1) != y).float().mean()
        # One host sync a step (two scalars), so a NaN/Inf stops the run before it updates.
        loss_value, error_value = torch.stack([loss.detach().float(), error]).tolist()
        self.loss.append(loss_value)
        self.train_error.append(error_value)
        if not math.isfinite(loss_value):
            self.status, self.diverged_at = "diverged", self.step_count
            self.message = f"loss became {loss_value} at step {self.step_count}: the run diverged (lower the lr)"
            self.step_count += 1
            self.seconds += time.perf_counter() - t0
            return False
        self.optimizer.step()
        self.step_count += 1
        self.status = "running"
        if self.step_count % self.config.test_every == 0 or self.step_count == self.total_steps:
            self.evaluate()
        if self.step_count >= self.total_steps:
            self.status = "finished"
        self.seconds += time.perf_counter() - t0
        return not self.done

    @property
    def _amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"

    def _fail(self, message: str) -> bool:
        self.status, self.message = "failed", message
        self.optimizer.zero_grad(set_to_none=True)
        self.model.taps.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return False

    @torch.no_grad()
    def evaluate(self) -> float:
        """Score the test set now and record it against the current step."""
        self.model.eval()
        err = error_on_test_set(self.model, self.data, amp=self._amp)
        self.model.train()
        self.test_steps.append(self.step_count)
        self.test_error.append(err)
        return err

    def result(self) -> RunResult:
        """What the run recorded so far."""
        return RunResult(
            config=self.config, status=self.status if self.status != "running" else "stopped",
            steps=self.step_count, loss=np.asarray(self.loss, np.float32),
            train_error=np.asarray(self.train_error, np.float32),
            test_steps=np.asarray(self.test_steps, np.int64), test_error=np.asarray(self.test_error, np.float32),
            history=self.probe.history(), events=list(self.events), seconds=self.seconds,
            message=self.message, diverged_at=self.diverged_at, model=self.model,
        )

    def close(self) -> None:
        """Remove the probe's recording from the model."""
        self.probe.__exit__(None, None, None)


def train(config: TrainConfig, *, steps: int, on_step: Callable[[Trainer], None] | None = None,
          should_stop: Callable[[], bool] | None = None, model: ResidualNet | None = None) -> RunResult:
    """Train `config` for `steps` steps (or until diverged or stopped) and return what it recorded."""
    trainer = Trainer(config, total_steps=steps, model=model)
    try:
        while not trainer.done:
            if should_stop is not None and should_stop():
                trainer.status = "stopped"
                break
            trainer.step()
            if on_step is not None:
                on_step(trainer)
        return trainer.result()
    finally:
        trainer.close()


def twin_trainers(config: TrainConfig, *, total_steps: int) -> tuple[Trainer, Trainer]:
    """The plain net and its residual twin: same seed, same initial weights where shapes agree, same batches."""
    residual = Trainer(config.replace(residual=True), total_steps=total_steps)
    plain_cfg = config.replace(residual=False)
    torch.manual_seed(plain_cfg.seed)
    plain_model = plain_cfg.model.build(residual.data)
    copy_matching(residual.model, plain_model)
    plain = Trainer(plain_cfg, total_steps=total_steps, model=plain_model)
    return plain, residual


def twin_trainer(config: TrainConfig, *, total_steps: int) -> Trainer:
    """The trainer of `config`'s net alone, started as it would be in its twin pair.

    The plain net starts from its residual twin's initial weights, so a sweep's runs trained one
    at a time (or in separate processes) compare exactly as twins trained side by side would.
    """
    plain, residual = twin_trainers(config, total_steps=total_steps)
    keep, drop = (residual, plain) if config.model.residual else (plain, residual)
    drop.close()
    return keep


def copy_matching(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copy every parameter and buffer whose name and shape agree (projections have no twin)."""
    src = source.state_dict()
    own = target.state_dict()
    target.load_state_dict({k: v for k, v in src.items() if k in own and own[k].shape == v.shape}, strict=False)


def train_twins(config: TrainConfig, *, steps: int,
                should_stop: Callable[[], bool] | None = None) -> tuple[RunResult, RunResult]:
    """Train the plain net and its residual twin on identical terms; returns (plain, residual)."""
    plain, residual = twin_trainers(config, total_steps=steps)
    try:
        for t in (plain, residual):
            while not t.done and not (should_stop is not None and should_stop()):
                t.step()
        return plain.result(), residual.result()
    finally:
        plain.close()
        residual.close()
