"""Train a Trainer to its end while recording it into a run store."""

from __future__ import annotations

from collections.abc import Callable

from resnet.store import RunRecorder, RunStore
from resnet.store.errors import one_line
from resnet.trainer import Trainer


def record(store: RunStore, trainer: Trainer, *, name: str | None = None, sweep: str | None = None,
           should_stop: Callable[[], bool] | None = None, on_step: Callable[[Trainer], None] | None = None,
           before_close: Callable[[int, Trainer], None] | None = None, flush_every: int = 100,
           flush_seconds: float = 2.0, pair: str | None = None, full: bool = False) -> int:
    """Train `trainer` to its end (or until `should_stop`), recording into `store`; returns the run id.

    Ctrl-C closes the run as "stopped" and an error as "failed" (then both propagate);
    `before_close` is passed to `RunRecorder.finish`; `pair` is the pair key the run shares with its twin;
    `full` records the probe rows unthinned.
    """
    recorder = RunRecorder(store, trainer, name=name, sweep=sweep, pair=pair, flush_every=flush_every,
                           flush_seconds=flush_seconds, full=full)
    status = None
    try:
        while not trainer.done:
            if should_stop is not None and should_stop():
                status = "stopped"
                break
            trainer.step()
            recorder.update(trainer)
            if on_step is not None:
                on_step(trainer)
    except KeyboardInterrupt:
        status = "stopped"
        raise
    except Exception as err:
        status, trainer.message = "failed", one_line(err)
        raise
    finally:
        recorder.finish(trainer, status, before_close)
    return recorder.run_id
