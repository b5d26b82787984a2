"""Train one grid point to its end, recorded: the same net, rows and Fig. 7 responses on every backend."""

from __future__ import annotations

from collections.abc import Callable

from resnet.recording import record
from resnet.responses import save_responses
from resnet.trainer import TrainConfig, Trainer, twin_trainer


def train_point(store, config: TrainConfig, steps: int, *, name: str | None = None, sweep: str | None = None,
                should_stop: Callable[[], bool] | None = None, on_step: Callable[[Trainer], None] | None = None,
                flush_seconds: float = 1.0) -> int:
    """Train `config` for `steps` steps into `store` (a RunStore, or a RowSink that ships its rows); the run id.

    The plain net starts from its residual twin's initial weights, as in a twin pair, so runs
    trained apart compare as twins do; the trained net's layer responses are stored too.
    """
    trainer = twin_trainer(config, total_steps=steps)
    try:
        return record(store, trainer, name=name, sweep=sweep, should_stop=should_stop, on_step=on_step,
                      before_close=lambda run_id, t: save_responses(store, run_id, t), flush_seconds=flush_seconds)
    finally:
        trainer.close()
