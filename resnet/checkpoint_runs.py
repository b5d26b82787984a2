"""A checkpoint file recorded in the run store as a run, so every page that opens stored runs opens it.

The run holds the checkpoint's weights as its final weights, a config naming the zoo model (so
`RunStore.load_model` rebuilds the net), no training steps (it was trained elsewhere) and one
metric row: the test error of one evaluation pass over the chosen data set, at step 0.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from resnet import zoo
from resnet.checkpoints import read_checkpoint
from resnet.checks import choice, flag, int_in
from resnet.data import IMAGE_DATASETS, error_on_test_set
from resnet.probes import layer_weights
from resnet.store import RunStore
from resnet.trainer import ModelSpec, TrainConfig, cached_dataset


@dataclass(frozen=True)
class ImportedCheckpoint:
    """The run a checkpoint became, and what loading it changed."""

    run_id: int
    name: str
    config: TrainConfig
    test_error: float  # fraction of the test set the net gets wrong
    notes: tuple[str, ...]  # quirks undone while reading the file
    head_replaced: bool  # the data set's class count differs from the file's: a fresh head was scored

    def summary(self, store_path: object) -> str:
        """One paragraph for the terminal."""
        lines = [f"run {self.run_id} ({self.name}) in {store_path}: {self.config.model.label} on "
                 f"{self.config.dataset}, test error {100 * self.test_error:.2f}% (one evaluation pass, no "
                 "training steps here)"]
        lines += [f"  checkpoint: {note}" for note in self.notes]
        if self.head_replaced:
            lines.append(f"  the file's head has another class count than {self.config.dataset}: the head was "
                         "replaced by a fresh one, so the test error is that of an untrained head")
        return "\n".join(lines)


def zoo_spec(arch: str, *, input_size: int = 0, residual: bool = True, zero_pad: str = zoo.CIFAR_ZERO_PAD
                    ) -> ModelSpec:
    """The ModelSpec that rebuilds zoo model `arch` (`residual` False: every shortcut off)."""
    choice("arch", arch, zoo.MODELS)
    if arch in zoo.CIFAR_RESNETS:
        if input_size:
            raise ValueError(f"input_size applies to torchvision models only; {arch} takes 32x32 images")
        return ModelSpec(family="cnn", depth=zoo.CIFAR_RESNETS[arch], residual=residual, zero_pad=zero_pad)
    return ModelSpec(arch=arch, input_size=input_size, residual=residual)


def import_checkpoint(store: RunStore, path: str | os.PathLike, *, arch: str, dataset: str = "digits",
                      input_size: int = 0, plain: bool = False, name: str | None = None,
                      data_root: str | None = None) -> ImportedCheckpoint:
    """Load checkpoint `path` into zoo model `arch`, score it on `dataset` and record it in `store` as a run.

    `plain`: the file holds a net trained with every shortcut off (a plain twin), recorded as such.
    """
    choice("arch", arch, zoo.MODELS)
    choice("dataset", dataset, IMAGE_DATASETS)
    int_in("input_size", input_size, 0, zoo.MAX_INPUT_SIZE)
    flag("plain", plain)
    t0 = time.perf_counter()
    ckpt = read_checkpoint(path)
    zero_pad = ((ckpt.config or {}).get("model", {}).get("zero_pad", "end") if ckpt.config
                else zoo.CIFAR_ZERO_PAD)  # our own run files keep the placement they were trained with
    spec = zoo_spec(arch, input_size=input_size, residual=not plain, zero_pad=zero_pad)
    config = TrainConfig(model=spec, dataset=dataset, device="cpu", data_root=data_root)
    data = cached_dataset(dataset, "cpu", data_root, False, **spec.data_shape())
    if data.sample_shape[0] != 3:
        raise ValueError(f"{arch} takes 3-channel images; {dataset} has {data.sample_shape[0]} (use cifar10)")
    net = zoo.model(arch, weights=ckpt, num_classes=data.num_classes)
    if plain:
        net.set_shortcut(None, False)
    error = error_on_test_set(net.eval(), data)
    info = net.weights_info
    run_id = store.create_run(config, total_steps=1, blocks=net.block_names(),
                              layers=[n for n, _ in layer_weights(net)], sample_shape=data.sample_shape,
                              num_classes=data.num_classes, device="cpu", name=name or f"{arch} ({ckpt.name})")
    store.append(run_id, tests=[(0, error)])
    store.save_weights(run_id, net.state_dict(), step=0)
    store.finish(run_id, "finished", seconds=time.perf_counter() - t0,
                 message=f"imported from the checkpoint {ckpt.name}: trained elsewhere, no steps here")
    return ImportedCheckpoint(run_id, store.run(run_id).name, config, error, info.notes, info.head_replaced)
