"""Soak: live twins in a worker with a page-like reader at 2 Hz for a long time; memory, store and rate held.

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--preset vanishing] [--warmup 120]

Every `--sample` seconds it records the worker's and this process's resident memory, the twin steps per
second since the last sample, and checks the run store: both twins' runs are there, still "running", their
recorded steps never go back and never pass the live view's, and SQLite's quick check passes. Shortcuts are
cut and restored every minute, as a presenter would. A pair that reaches its last step (100k) is checked
whole (both runs finished with every step) and Reset, and the soak goes on in the same worker. Goals:
resident memory after warm-up grows by less than 10%, the store stays consistent, the step rate holds (last
five minutes against the five after warm-up), and the slowest redraw says whether a page would have kept
its heartbeat.
The suite runs `soak()` for 15 s, and a pair to its last step, and checks consistency only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from resnet.jobs import JobServer
from resnet.presets import PRESETS
from resnet.store import RunStore
from resnet.trainer import MAX_STEPS
from viz.run_figures import run_figures


@dataclass(frozen=True)
class Sample:
    """One look at the soak."""

    seconds: float  # since training started
    step: int  # the live view's step
    rate: float  # twin steps per second since the last sample
    worker_rss_mb: float
    reader_rss_mb: float
    stored_steps: tuple[int, int]  # (plain, residual) steps committed to the store
    slowest_redraw_s: float  # the longest redraw (view, figures, JSON) since the last sample
    problems: tuple[str, ...]  # consistency failures seen at this sample


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def check_store(store: RunStore, ids: dict[str, int], live_step: Callable[[], int], before: tuple[int, int]) -> tuple[
        tuple[int, int], list[str]]:
    """The pair's committed steps, and every way the store disagrees with the live job.

    `live_step()` reads the live view's step. A worker sends its rows to the server before it
    commits them, but the server's reader may take them off the pipe a moment after the commit
    is visible: the view must catch up with the store within seconds, not be ahead at every instant.
    """
    problems = []
    steps = []
    for role in ("plain", "residual"):
        info = store.run(ids[role])
        steps.append(info.steps)
        if info.status != "running":
            problems.append(f"{role} run {info.id} is {info.status}, not running")
    deadline = time.monotonic() + 5
    while (live := live_step()) < max(steps) and time.monotonic() < deadline:
        time.sleep(0.05)
    for role, n in zip(("plain", "residual"), steps, strict=True):
        if n > live:
            problems.append(f"{role} run has {n} steps stored, past the live view's {live} after 5 s")
    for role, now, then in zip(("plain", "residual"), steps, before, strict=True):
        if now < then:
            problems.append(f"{role} run's stored steps went back from {then} to {now}")
    check = store.integrity_check()
    if check != "ok":
        problems.append(f"integrity check: {check}")
    return (steps[0], steps[1]), problems


def check_finished(store: RunStore, ids: dict[str, int], total_steps: int) -> list[str]:
    """Every way a finished pair's stored runs fall short: both finished, each with all `total_steps` steps."""
    problems = []
    for role in ("plain", "residual"):
        info = store.run(ids[role])
        if info.status != "finished" or info.steps != total_steps:
            problems.append(f"finished {role} run {info.id} is {info.status} with {info.steps} of {total_steps} steps")
    return problems


def _finishing(store: RunStore, job) -> bool:
    """Whether the pair reached its last step; if so, once the job says so too (ten seconds at most).

    The worker closes its runs in the store before the server hears it finished, so a look in between
    finds finished runs under a job still training: that pair is finished, not inconsistent.
    """
    if job.state != "finished" and all(store.run(i).status == "running" for i in job.run_ids.values()):
        return False
    deadline = time.monotonic() + 10
    while job.state != "finished" and job.alive and time.monotonic() < deadline:
        job.heartbeat()
        time.sleep(0.05)
    return True


def _wait_for_rows(job) -> None:
    """Until the job's first rows arrive and its runs are in the store (two minutes at most)."""
    deadline = time.monotonic() + 120
    while (job.steps_done < 1 or not job.run_ids) and time.monotonic() < deadline:
        job.heartbeat()
        time.sleep(0.05)
    if not job.run_ids:
        raise RuntimeError(f"the twins did not start recording: {job.message or job.state}")


def soak(seconds: float, *, preset: str = "vanishing", sample_every: float = 10.0, store_path: str | Path,
         toggle_every: float = 60.0, total_steps: int = MAX_STEPS, on_sample=None) -> tuple[list[Sample], int]:
    """Train live twins for `seconds` with a 2 Hz reader; (samples, steps stored at the end, both twins equal).

    A pair that reaches `total_steps` before the time is up (a fast machine trains 100k steps in under half an
    hour) is checked whole and Reset, as a presenter would press it, and the soak goes on in the same worker.
    """
    server = JobServer(cap=1, limit=1)
    store = RunStore(store_path)
    try:
        job = server.twins(PRESETS[preset].config.replace(device="cpu"), total_steps, store=store_path)
        job.train()
        _wait_for_rows(job)
        start = last_time = time.monotonic()
        last_step, stored, samples = job.steps_done, (0, 0), []
        next_sample, next_toggle, cut = start + sample_every, start + toggle_every, False
        blocks = len(job.config.model.block_names())
        slowest = 0.0
        while (now := time.monotonic()) - start < seconds:
            job.heartbeat()
            for fig in run_figures(job.view(600)).values():  # the page's redraw: view, figures, JSON
                fig.to_json()
            slowest = max(slowest, time.monotonic() - now)
            if now >= next_toggle:  # cut, then restore, the middle third of the shortcuts
                cut = not cut
                job.apply_shortcuts([i for i in range(blocks) if not (cut and blocks // 3 <= i < 2 * blocks // 3)])
                next_toggle += toggle_every
            if now >= next_sample:
                done_before = 0  # steps of a pair that finished since the last sample
                problems = []
                if _finishing(store, job):  # this sample checks the finished pair, the next one its successor
                    problems += check_finished(store, job.run_ids, total_steps)
                    done_before, last_step = total_steps - last_step, 0
                    job.reset()
                    job.train()
                    _wait_for_rows(job)
                    stored, cut, next_toggle = (0, 0), False, time.monotonic() + toggle_every
                else:
                    stored, more = check_store(store, job.run_ids, lambda: job.steps_done, stored)
                    problems += more
                    if not job.alive or job.state != "training":
                        problems.append(f"the job is {job.state}: {job.message}")
                step = job.steps_done
                samples.append(Sample(now - start, step, (done_before + step - last_step) / (now - last_time),
                                      rss_mb(job.pid),
                                      rss_mb(os.getpid()), stored, slowest, tuple(problems)))
                if on_sample is not None:
                    on_sample(samples[-1])
                last_step, last_time, next_sample, slowest = step, now, next_sample + sample_every, 0.0
            time.sleep(max(0.0, 0.5 - (time.monotonic() - now)))
        job.pause()  # a pause commits what the worker holds: the store then matches the view
        deadline = time.monotonic() + 60
        while job.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        final = job.steps_done
        ends = {store.run(i).steps for i in job.run_ids.values()}
        job.stop()
        job.join(60)
        return samples, final if ends == {final} else -1
    finally:
        server.shutdown()


def main() -> None:
    """Soak for --minutes and print each sample, then the figures against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--preset", default="vanishing", choices=sorted(PRESETS))
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before memory is taken as the base")
    parser.add_argument("--sample", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"soak: {args.preset} for {args.minutes:g} min, {len(os.sched_getaffinity(0))} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.db"

        def show(s: Sample) -> None:
            print(f"  {s.seconds:7.0f} s  step {s.step:7d}  {s.rate:6.1f} steps/s  worker {s.worker_rss_mb:7.1f} MiB  "
                  f"reader {s.reader_rss_mb:7.1f} MiB  stored {s.stored_steps}  redraw {s.slowest_redraw_s:5.2f} s" +
                  (f"  PROBLEM: {'; '.join(s.problems)}" if s.problems else ""), flush=True)

        samples, final = soak(args.minutes * 60, preset=args.preset, sample_every=args.sample, store_path=path,
                              on_sample=show)
        size = path.stat().st_size / 2**20
    warm = [s for s in samples if s.seconds >= args.warmup]
    base, end = warm[0], warm[-1]
    window = max(1, int(300 / args.sample))
    early = statistics.median(s.rate for s in warm[:window])
    late = statistics.median(s.rate for s in warm[-window:])
    # A pair Reset at its last step shows as a step that goes back: count the steps of every pair.
    pairs = list(itertools.pairwise(samples))
    resets = sum(b.step < a.step for a, b in pairs)
    steps = samples[0].step + sum(b.step - a.step if b.step >= a.step else MAX_STEPS - a.step + b.step
                                  for a, b in pairs)
    figures = {
        "steps": steps, "resets": resets, "store_mb": round(size, 1), "final_steps_match": final >= 0,
        "problems": sum(len(s.problems) for s in samples),
        "worker_rss_growth": end.worker_rss_mb / base.worker_rss_mb - 1,
        "reader_rss_growth": end.reader_rss_mb / base.reader_rss_mb - 1,
        "slowest_redraw_s": max(s.slowest_redraw_s for s in samples),
        "rate_early": early, "rate_late": late, "rate_late_over_early": late / early,
    }
    print(f"worker memory {base.worker_rss_mb:.1f} -> {end.worker_rss_mb:.1f} MiB "
          f"({figures['worker_rss_growth']:+.1%}; goal < +10%), reader {base.reader_rss_mb:.1f} -> "
          f"{end.reader_rss_mb:.1f} MiB ({figures['reader_rss_growth']:+.1%})")
    print(f"step rate {early:.1f} -> {late:.1f} steps/s ({late / early:.2f}x), {steps} steps ({resets} Reset at "
          f"{MAX_STEPS} steps), store {size:.1f} MB, "
          f"{figures['problems']} consistency problems, stored steps match the view at the end: {final >= 0}, "
          f"slowest redraw {figures['slowest_redraw_s']:.2f} s")
    if args.json:
        print(json.dumps({"figures": figures, "samples": [asdict(s) for s in samples]}))


if __name__ == "__main__":
    main()
