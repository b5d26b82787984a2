"""RunRecorder: feeds one Trainer's rows into the store in batches."""

from __future__ import annotations

import time
from collections.abc import Callable

from resnet.checks import int_in
from resnet.probes import ProbeHistory
from resnet.store.store import RunStore
from resnet.store.thinning import Thinner, window_for
from resnet.trainer import Trainer


class RunRecorder:
    """Feeds one Trainer's records into the store in batches: every `flush_every` steps or `flush_seconds`.

    Probe rows are thinned after the first steps (resnet/store/thinning.py) unless `full`.
    """

    def __init__(self, store: RunStore, trainer: Trainer, *, name: str | None = None, sweep: str | None = None,
                 pair: str | None = None, flush_every: int = 100, flush_seconds: float = 2.0,
                 full: bool = False) -> None:
        int_in("flush_every", flush_every, 1, 10**6)
        self.store = store
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        data = trainer.data
        self.run_id = store.create_run(
            trainer.config, total_steps=trainer.total_steps, blocks=trainer.model.block_names(),
            layers=trainer.probe.layer_names, sample_shape=data.sample_shape, num_classes=data.num_classes,
            device=str(trainer.device), name=name, sweep=sweep, pair=pair)
        self._thinner = Thinner(1 if full else window_for(trainer.total_steps))
        self._steps = 0  # per-step values already written
        self._tests = 0
        self._events = 0
        self._last_flush = time.monotonic()

    def update(self, trainer: Trainer) -> None:
        """Call after each step; commits when a batch is due."""
        due = len(trainer.loss) - self._steps >= self.flush_every
        if due or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush(trainer)

    def flush(self, trainer: Trainer, history: ProbeHistory | None = None) -> None:
        """Commit everything recorded since the last flush, in one transaction.

        `history`: the probe rows since the last flush, where the caller drains the probe itself
        (a live view reads the same rows); None drains it here.
        """
        history = trainer.probe.drain() if history is None else history
        loss, err = trainer.loss[self._steps:], trainer.train_error[self._steps:]
        tests = list(zip(trainer.test_steps[self._tests:], trainer.test_error[self._tests:], strict=True))
        events = trainer.events[self._events:]
        self.store.append(self.run_id, first_step=self._steps + 1, loss=loss, train_error=err, tests=tests,
                          rows=self._thinner.add(history), events=events)
        self._steps += len(loss)
        self._tests += len(tests)
        self._events += len(events)
        self._last_flush = time.monotonic()

    def finish(self, trainer: Trainer, status: str | None = None,
               before_close: Callable[[int, Trainer], None] | None = None,
               history: ProbeHistory | None = None) -> str:
        """Commit the rest, the final weights (unless it diverged or failed) and then the final status.

        `before_close(run_id, trainer)` runs for a trained net before the status is written, so a
        reader that sees the status also sees what it stored. `history` is as for `flush`.
        """
        self.flush(trainer, history)
        status = status or {"ready": "stopped", "running": "stopped"}.get(trainer.status, trainer.status)
        if status in ("finished", "stopped") and trainer.step_count:
            self.store.save_weights(self.run_id, trainer.model.state_dict(), step=trainer.step_count)
            if before_close is not None:
                before_close(self.run_id, trainer)
        self.store.finish(self.run_id, status, seconds=trainer.seconds, message=trainer.message)
        return status
