"""The Ray backend: each run of a sweep is a Ray Tune trial; the driver is the run store's only writer.

Trials ship their store calls (a batch of rows per flush, then weights, responses and the final
status) to an inbox actor; the driver drains it and replays them on its store, so a run trained
on another machine has the rows a local run would. With no address the sweep gets a private
local cluster that never joins another; with one (or $GFL_RAY_ADDRESS), that cluster. Ray is
an optional dependency (requirements-ray.txt): nothing else in the lab imports it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from resnet.store import RunStore
from resnet.sweeps.driver import run_grid
from resnet.sweeps.grid import GridPoint, SweepGrid
from resnet.sweeps.local import default_jobs
from resnet.sweeps.point import train_point
from resnet.sweeps.progress import RunProgress, fraction
from resnet.sweeps.rows import Message, RowReplay, RowSink
from resnet.trainer import TrainConfig

ADDRESS_ENV = "GFL_RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer a TCP connect this fast is not there
OBJECT_STORE_BYTES = 100 * 2**20  # a private cluster's object store: rows pass through it in small batches
DRAIN_S = 0.2
STOP_WAIT_S = 60.0  # how long stopped trials get to close their runs before the cluster goes
PACKAGE = Path(__file__).resolve().parents[1]  # resnet/, shipped to a remote cluster's workers


def _ray():
    """The ray module, or a one-line ValueError saying how to install it."""
    try:
        import ray
        from ray import tune  # noqa: F401 - the backend needs Tune too
    except ImportError:
        raise ValueError("the Ray backend needs ray[tune]: pip install -r requirements-ray.txt "
                         "(or use --backend local)") from None
    return ray


def ray_address(address: str | None = None) -> str | None:
    """The cluster to use: `address`, else $GFL_RAY_ADDRESS, else None (a private local cluster)."""
    return address or os.environ.get(ADDRESS_ENV) or None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line ValueError unless something listens at `address` ("host:port" or "ray://host:port")."""
    if address == "auto":
        return  # Ray finds a cluster started on this machine, or says at once there is none
    match = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:(\d+)", address)
    if match is None:
        raise ValueError(f"Ray address {address!r} is not host:port or ray://host:port")
    try:
        socket.create_connection((match[1], int(match[2])), timeout=timeout).close()
    except OSError as err:
        raise ValueError(f"cannot reach the Ray cluster at {address} ({err.strerror or err}); start one with "
                         "`ray start --head`, or use --backend local") from None


@contextlib.contextmanager
def ray_cluster(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to the cluster at `address`, or start a private local one of `num_cpus`; left as found.

    A caller that has called ray.init already (a test's shared cluster) keeps its cluster.
    """
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if address:
        check_reachable(address)
        # The cluster's workers get this checkout's engine, so they train what the driver asked for.
        ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE)]}, log_to_driver=False,
                 logging_level=logging.WARNING)
    else:
        # "local" starts a new cluster even where $RAY_ADDRESS or a running cluster would be found.
        ray.init(address="local", num_cpus=num_cpus or default_jobs(), include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": {"PYTHONPATH": str(PACKAGE.parent)}})
    try:
        yield
    finally:
        ray.shutdown()


class _Inbox:
    """The actor trials send their store calls to; its answer tells a trial whether to stop."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.stop = False

    def put(self, message: Message) -> bool:
        self.messages.append(message)
        return self.stop

    def drain(self) -> list[Message]:
        messages, self.messages = self.messages, []
        return messages

    def stop_all(self) -> None:
        self.stop = True

    def stopping(self) -> bool:
        return self.stop


def _trial(param: dict, *, inbox, configs: list, steps: int, tag: str, flush_seconds: float) -> None:
    """One run as a Tune function trainable: train it, shipping its store calls to the inbox."""
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(1)  # one trial a CPU, as the local backend's workers
    point = int(param["point"])
    if ray.get(inbox.stopping.remote()):
        return  # the sweep was stopped before this trial started
    host, pid, seconds = socket.gethostname(), os.getpid(), [0.0]

    def send(kind: str, args: tuple, kwargs: dict) -> bool:
        stop = ray.get(inbox.put.remote(Message(point, kind, args, kwargs, seconds[0], host, pid)))
        if kind == "append" and kwargs.get("loss"):
            tune.report({"step": kwargs["first_step"] + len(kwargs["loss"]) - 1, "seconds": seconds[0]})
        return stop

    sink = RowSink(send)
    config = configs[point]
    train_point(sink, config, steps, name=config.model.label, sweep=tag, should_stop=lambda: sink.stop_requested,
                on_step=lambda t: seconds.__setitem__(0, t.seconds), flush_seconds=flush_seconds)


def _errors_callback(errors: dict[int, str]):
    """A Tune callback that keeps each failed trial's reason, by grid point."""
    from ray.tune import Callback

    class TrialErrors(Callback):
        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            error = trial.get_error()
            lines = [line for line in str(error or "").splitlines() if line.strip()]
            errors[int(trial.config["point"])] = lines[-1].strip() if lines else "the trial failed"

    return TrialErrors()


class RayBackend:
    """Each run a Ray Tune trial of one CPU and one torch thread, on a private or an existing cluster."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 flush_seconds: float = 1.0) -> None:
        self.address = ray_address(address)
        self.num_cpus = num_cpus
        self.flush_seconds = flush_seconds
        if self.address:
            check_reachable(self.address)
        _ray()

    def run(self, store: RunStore, tag: str, points: Sequence[GridPoint], steps: int,
            on_progress=None) -> list[RunProgress]:
        """Run every point as a trial; drain their rows into `store` until all end. Ctrl-C stops them all."""
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0, Tune prints no tables of its own
        logging.getLogger("ray.tune").setLevel(logging.CRITICAL)  # the sweep reports failed trials itself
        with ray_cluster(self.address, self.num_cpus):
            return _Sweep(store, tag, list(points), steps, self.flush_seconds).run(on_progress)


class _Sweep:
    """One Tune run of a sweep's points, and the driver's side of it."""

    def __init__(self, store: RunStore, tag: str, points: list[GridPoint], steps: int, flush_seconds: float) -> None:
        ray = _ray()
        from ray import tune

        self.ray, self.points, self.steps = ray, points, steps
        self.replay = RowReplay(store)
        self.errors: dict[int, str] = {}
        self.progress = [RunProgress(p.index, p.title, "queued", 0, steps) for p in points]
        self.inbox = ray.remote(num_cpus=0)(_Inbox).remote()
        trainable = tune.with_resources(tune.with_parameters(
            _trial, inbox=self.inbox, configs=[p.config for p in points], steps=steps, tag=tag,
            flush_seconds=flush_seconds), {"cpu": 1})
        self.tuner = tune.Tuner(
            trainable, param_space={"point": tune.grid_search(list(range(len(points))))},
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=tune.RunConfig(
                name=re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-"), verbose=0,
                storage_path=str(store.path.resolve().parent / "ray_results"),
                failure_config=tune.FailureConfig(max_failures=0), callbacks=[_errors_callback(self.errors)]))
        self.fit_error: list[BaseException] = []

    def _fit(self) -> None:
        try:
            self.tuner.fit()
        except BaseException as err:  # noqa: BLE001 - the driver's thread reports it
            self.fit_error.append(err)

    def run(self, on_progress) -> list[RunProgress]:
        thread = threading.Thread(target=self._fit, name="gfl-tune", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(DRAIN_S)
                self._drain()
                if on_progress is not None:
                    on_progress(list(self.progress))
        except KeyboardInterrupt:
            self.ray.get(self.inbox.stop_all.remote())  # each trial closes its run as "stopped" at its next batch
            deadline = time.monotonic() + STOP_WAIT_S
            while thread.is_alive() and time.monotonic() < deadline:
                thread.join(DRAIN_S)
                self._drain()
            self._drain()
            self.replay.close_open("stopped", "stopped by Ctrl-C")
            raise
        self._drain()
        if self.fit_error:
            raise ValueError(f"the Tune run failed: {self.fit_error[0]}")
        for i, reason in self.errors.items():
            self.replay.close_open("failed", reason, {i})
            self.progress[i] = self._with(i, state="failed", message=reason)
        for i in list(self.replay.open):  # a trial that ended without a word (it cannot, but the store must close)
            self.replay.close_open("failed", "the trial ended without closing its run", {i})
            self.progress[i] = self._with(i, state="failed", message="the trial ended without closing its run")
        return list(self.progress)

    def _with(self, i: int, **changes) -> RunProgress:
        import dataclasses

        return dataclasses.replace(self.progress[i], **changes)

    def _drain(self) -> None:
        for m in self.ray.get(self.inbox.drain.remote()):
            self.replay.apply(m)
            changes = {"seconds": m.seconds, "where": m.host, "pid": m.pid, "run_id": self.replay.run_ids.get(m.point),
                       "state": "running"}
            if m.kind == "append" and m.kwargs.get("loss"):
                changes["step"] = m.kwargs["first_step"] + len(m.kwargs["loss"]) - 1
            elif m.kind == "finish":
                changes["state"], changes["seconds"] = m.args[0], m.kwargs.get("seconds", m.seconds)
                changes["message"] = m.kwargs.get("message", "")
            self.progress[m.point] = self._with(m.point, **changes)


def run_on_ray(*, store: str, base: dict, depths: list[int], nets: list[bool], seeds: int, steps: int, tag: str,
               address: str | None = None, progress=None) -> dict:
    """A sweep on the Ray cluster, driven from a job's worker process (the app's); its runs' ids and statuses.

    `base` is a TrainConfig as a dict; `progress(fraction, text)` hears how far the trials are.
    """
    grid = SweepGrid(TrainConfig.from_dict(base), tuple(depths), tuple(nets), seeds, (), steps)

    def report(runs: list[RunProgress]) -> None:
        if progress is not None:
            training = [p for p in runs if p.state == "running"]
            text = ", ".join(f"{p.title} {p.step}/{p.steps}" + (f" on {p.where}" if p.where else "")
                             for p in training) or "waiting for the cluster"
            progress(fraction(runs), f"{sum(p.ended for p in runs)} of {len(runs)} runs ended; training: {text}")

    result = run_grid(RunStore(store), grid, RayBackend(address), tag=tag, on_progress=report)
    return {"tag": result.tag, "runs": [(r.run_id, r.status) for r in result.rows],
            "unrecorded": [f"{p.title}: {p.message}" for p in result.unrecorded]}
