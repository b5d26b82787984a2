"""The job server: worker processes from a preloading forkserver, a cap on jobs at once, and a line.

Training never shares the UI's interpreter: with the GIL, one session trained at 40% of the bare
loop's speed inside the Streamlit server, and four sessions summed to less than one. Workers come
from a forkserver that has imported torch and the engine once (a plain fork of Streamlit's
threaded server is unsafe, and a fresh interpreter per job costs the seconds of importing
torch). One reader thread waits on every worker's pipe at once and feeds each job's handle; a
worker that dies is seen there as its pipe closing.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import deque
from multiprocessing import forkserver
from multiprocessing.connection import wait
from pathlib import Path

from resnet.jobs import child
from resnet.jobs.handles import CallJob, Job, RunJob, TwinsJob
from resnet.store import RunStore, StoreError
from resnet.trainer import TrainConfig

PRELOAD = ["resnet.jobs.child"]
PAUSE_AFTER_S = 30.0  # live twins nobody watches pause after this long ...
STOP_AFTER_S = 600.0  # ... and end after this long
LEAVE_LINE_AFTER_S = 15.0  # a queued job of a closed tab leaves the line after this long
TICK_S = 0.5


class JobError(ValueError):
    """A job that cannot be queued or started; the message is one line for the page."""


def max_jobs() -> int:
    """Jobs allowed to train at once: $GFL_MAX_WORKERS, else the cores this process may use."""
    text = os.environ.get("GFL_MAX_WORKERS", "").strip()
    if text:
        if not text.isdigit() or not 1 <= int(text) <= 1024:
            raise JobError(f"GFL_MAX_WORKERS must be a whole number from 1 to 1024, not {text!r}")
        return int(text)
    return len(os.sched_getaffinity(0))


def queue_limit() -> int:
    """How many jobs may wait in line: $GFL_QUEUE_LIMIT, default 32."""
    text = os.environ.get("GFL_QUEUE_LIMIT", "32").strip()
    if not text.isdigit() or not 0 <= int(text) <= 10_000:
        raise JobError(f"GFL_QUEUE_LIMIT must be a whole number from 0 to 10000, not {text!r}")
    return int(text)


def torch_threads() -> int:
    """Intra-op threads of each worker ($GFL_TORCH_THREADS, default 1: small nets step fastest on one)."""
    text = os.environ.get("GFL_TORCH_THREADS", "1").strip()
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise JobError(f"GFL_TORCH_THREADS must be a whole number from 1 to 256, not {text!r}")
    return int(text)


def exit_reason(exitcode: int | None) -> str:
    """Why a worker ended, in words, from its exit code ("" for a clean exit)."""
    if exitcode is None or exitcode == 0:
        return ""
    if exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.Signals._value2member_map_ else str(-exitcode)
        hint = " (out of memory, or stopped from outside)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {exitcode}"


class JobServer:
    """Starts jobs in worker processes, at most `cap` at once; the rest wait in a line of `limit`."""

    def __init__(self, cap: int | None = None, limit: int | None = None, *, pause_after: float = PAUSE_AFTER_S,
                 stop_after: float = STOP_AFTER_S, leave_line_after: float = LEAVE_LINE_AFTER_S) -> None:
        self.cap = max_jobs() if cap is None else cap
        self.limit = queue_limit() if limit is None else limit
        if not isinstance(self.cap, int) or self.cap < 1:
            raise JobError(f"the job cap must be at least 1, not {self.cap!r}")
        self.pause_after, self.stop_after, self.leave_line_after = pause_after, stop_after, leave_line_after
        self.threads = torch_threads()
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(PRELOAD)
        self._lock = threading.RLock()
        self._jobs: list[Job] = []  # every job not yet ended
        self._line: deque[Job] = deque()
        self._slots: set[Job] = set()  # jobs holding a slot
        self._wake_r, self._wake_w = self.context.Pipe(duplex=False)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="gfl-job-server", daemon=True)
        self._thread.start()
        # The forkserver imports torch once (seconds); start it now, not on the first Train press.
        threading.Thread(target=forkserver.ensure_running, name="gfl-forkserver-start", daemon=True).start()
        atexit.register(self.shutdown)

    # -- starting jobs ----------------------------------------------------------------------------
    def run(self, config: TrainConfig, steps: int, *, store: str | Path, name: str | None = None,
            sweep: str | None = None, responses: bool = False, full: bool = False) -> RunJob:
        """Queue one run, trained to its end and recorded in `store` by its worker."""
        job = RunJob(self, config, steps, store=str(store), name=name, sweep=sweep, responses=responses, full=full)
        self._admit(job, queued=True)
        return job

    def call(self, target: str, *, needs_viewer: bool = False, **kwargs) -> CallJob:
        """Queue a call of `target` ("module:function") with `kwargs` in a worker."""
        job = CallJob(self, target, kwargs, needs_viewer=needs_viewer)
        self._admit(job, queued=True)
        return job

    def twins(self, config: TrainConfig, steps: int, *, store: str | Path | None = None) -> TwinsJob:
        """Start live twins now (building them takes no slot; training does)."""
        job = TwinsJob(self, config, steps, store=None if store is None else str(store))
        self._admit(job)
        self.spawn(job)
        return job

    def _admit(self, job: Job, *, queued: bool = False) -> None:
        """Take `job` on; `queued`: it waits in line for a slot before its worker starts."""
        with self._lock:
            if self._closed:
                raise JobError("the job server has shut down")
            self._jobs.append(job)
            if queued:
                try:
                    self._enqueue(job)
                except JobError:
                    self._jobs.remove(job)
                    raise

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            if job in self._line or job in self._slots:
                return
            if len(self._line) >= self.limit and len(self._slots) >= self.cap:
                raise JobError(f"the line is full: {self.limit} jobs are waiting for one of {self.cap} slots; "
                               "please try again in a few minutes")
            self._line.append(job)
            self._dispatch()

    def request(self, job: TwinsJob, command: tuple) -> None:
        """A live job asks to train: at once if it holds a slot or one is free, else in line."""
        with self._lock:
            if job in self._slots:
                job.send(command)
                return
            job.waiting = command
            try:
                self._enqueue(job)
            except JobError:
                job.waiting = None
                raise

    def leave_line(self, job: Job) -> None:
        """Take a job out of the line (Pause, Reset, Cancel, a closed tab)."""
        with self._lock:
            if job in self._line:
                self._line.remove(job)
                job.place = None
                if isinstance(job, TwinsJob):
                    job.waiting = None
                self._renumber()

    def stop(self, job: Job) -> None:
        """End `job`: out of the line ("cancelled"), or its worker told to stop."""
        with self._lock:
            queued = job in self._line
            self.leave_line(job)
            if queued and job.process is None:
                job._state, job.message = "cancelled", "left the line"
                self._end(job)
                return
        if job.conn is not None:
            with contextlib.suppress(OSError, ValueError):
                job.conn.send(("stop",))

    def spawn(self, job: Job) -> None:
        """Start the job's worker process (the reader thread then listens to it)."""
        parent, child_end = self.context.Pipe()
        spec = {**job.spec, "threads": self.threads}
        process = self.context.Process(target=child.main, args=(job.kind, spec, child_end), daemon=True,
                                       name=f"gfl-{job.kind}-{job.id}")
        try:
            process.start()
        except OSError as err:
            job._state, job.message = "failed", f"the worker process could not start: {err}"
            self._end(job)
            return
        finally:
            child_end.close()
        job.process, job.conn = process, parent
        self._wake_w.send(b"")

    # -- slots and the line --------------------------------------------------------------------
    def _dispatch(self) -> None:
        with self._lock:
            while self._line and len(self._slots) < self.cap:
                job = self._line.popleft()
                job.place = None
                self._slots.add(job)
                job.granted()
            self._renumber()

    def _renumber(self) -> None:
        for place, job in enumerate(self._line, start=1):
            job.place = place
            job.message = f"waiting for a free slot: place {place} of {len(self._line)} ({self.cap} train at once)"

    def _release(self, job: Job) -> None:
        with self._lock:
            if job in self._slots:
                self._slots.discard(job)
                self._dispatch()

    @property
    def busy(self) -> int:
        """Jobs holding a slot now."""
        with self._lock:
            return len(self._slots)

    @property
    def waiting(self) -> int:
        """Jobs in line now."""
        with self._lock:
            return len(self._line)

    def jobs(self) -> list[Job]:
        """Every job not yet ended."""
        with self._lock:
            return list(self._jobs)

    # -- the reader thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        last_tick = 0.0
        while not self._closed:
            with self._lock:
                conns = {job.conn: job for job in self._jobs if job.conn is not None}
            try:
                ready = wait([*conns, self._wake_r], timeout=TICK_S)
            except OSError:  # a pipe closed under us: look again
                continue
            for conn in ready:
                if conn is self._wake_r:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                    continue
                self._read(conns[conn], conn)
            if time.monotonic() - last_tick >= TICK_S:
                last_tick = time.monotonic()
                self._tick()

    def _read(self, job: Job, conn) -> None:
        try:
            # `conn` as it was when it became ready: shutdown may end the job (and drop `job.conn`) meanwhile.
            while job.conn is conn and conn.poll():
                job.receive(conn.recv())
        except (EOFError, OSError):
            if job.conn is conn:  # closed at the worker's end; a job ended here was closed by whoever ended it
                self._exited(job)
            return
        if isinstance(job, TwinsJob) and not job.training:
            self._release(job)

    def _exited(self, job: Job) -> None:
        """The worker's pipe closed: it has ended, by itself or not."""
        job.process.join(timeout=5)
        reason = exit_reason(job.process.exitcode)
        store = job.spec.get("store")
        # The runs are closed first: a page that sees the failure then finds them closed too.
        if store is not None and job.process.exitcode != 0:
            close_runs_of(store, job.pid, "failed" if job.failure else "interrupted", job.failure or reason)
        job.finished(reason)
        self._end(job)

    def _end(self, job: Job) -> None:
        with self._lock:
            if job.conn is not None:
                job.conn.close()
                job.conn = None
            if job in self._jobs:
                self._jobs.remove(job)
            self._release(job)
            job.ended.set()

    def _tick(self) -> None:
        """Live twins nobody watches pause, then end; queued jobs of closed tabs leave the line."""
        now = time.monotonic()
        for job in self.jobs():
            stale = now - job.beat
            if job.needs_viewer and job in self._line and stale > self.leave_line_after:
                self.stop(job)  # a live job's worker ends with it: its tab is gone
            if isinstance(job, TwinsJob):
                if stale > self.stop_after:
                    self.stop(job)
                elif stale > self.pause_after and job.state == "training" and not job.pending:
                    # Once: a pause still in flight is not sent again (the worker's rows arrive before its
                    # new state, and every pause would otherwise answer with rows that ask for another).
                    job.send(("pause", "paused: nobody is watching this session"))

    # -- shutting down ----------------------------------------------------------------------------
    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job and wait for the workers; those still there after `timeout` are killed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._jobs)
        for job in jobs:
            self.stop(job)
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.process is not None:
                job.process.join(max(0.0, deadline - time.monotonic()))
                if job.process.is_alive():
                    job.process.kill()
                    job.process.join(2)
            if not job.ended.is_set():
                job.finished("")
                self._end(job)
        self._thread.join(timeout=2)


def close_runs_of(store: str, pid: int | None, status: str, message: str) -> None:
    """Close the runs a dead worker was recording (what it committed stays)."""
    try:
        runs = RunStore(store)
        for info in runs.runs():
            if info.pid == pid and info.host == socket.gethostname() and info.status in ("running", "interrupted"):
                runs.finish(info.id, status, seconds=info.seconds, message=message)
    except (StoreError, OSError):
        pass  # the page already says the job failed; the store reads a dead writer's run as interrupted


_SERVER: JobServer | None = None
_SERVER_LOCK = threading.Lock()


def job_server() -> JobServer:
    """The process-wide job server (the app's), created on first use."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None or _SERVER._closed:
            _SERVER = JobServer()
        return _SERVER
