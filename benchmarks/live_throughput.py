"""Twin steps per second: the bare loop, one job with a page-like reader, and 1, 2, 4 jobs at once.

    .venv/bin/python -m benchmarks.live_throughput [--preset vanishing] [--seconds 8]

(a) the bare training loop of a twin pair in this process, one torch thread; (b) one live job
(a worker process) while this process does the page's redraw work at 2 Hz: the view, every
figure, and the figures' JSON; (c) 1, 2 and 4 jobs training at once, their rates summed. All
in one run, so the ratios compare like with like on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from resnet.jobs import JobServer
from resnet.presets import PRESETS
from resnet.trainer import twin_trainers
from viz.run_figures import run_figures


def bare(config, seconds: float) -> float:
    """Twin steps per second of the bare loop (both nets step once per twin step)."""
    plain, residual = twin_trainers(config, total_steps=10**5)
    for _ in range(5):  # warm-up
        plain.step(), residual.step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        plain.step(), residual.step()
        n += 1
    rate = n / (time.perf_counter() - start)
    plain.close(), residual.close()
    return rate


def jobs_rate(server: JobServer, config, count: int, seconds: float, *, reader: bool) -> float:
    """Summed twin steps per second of `count` live jobs over `seconds`, after each has started training."""
    jobs = [server.twins(config, 10**5) for _ in range(count)]
    for j in jobs:
        j.train()
    deadline = time.monotonic() + 120
    while any(j.steps_done < 5 for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.05)
    first = [j.steps_done for j in jobs]
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for j in jobs:
            j.heartbeat()
        if reader:  # the page's redraw: a view, its figures, and the JSON sent to the browser
            for fig in run_figures(jobs[0].view(600)).values():
                fig.to_json()
            time.sleep(max(0.0, 0.5 - (time.monotonic() - start) % 0.5))
        else:
            time.sleep(0.25)
    elapsed = time.monotonic() - start
    rate = sum(j.steps_done - f for j, f in zip(jobs, first, strict=True)) / elapsed
    for j in jobs:
        j.stop()
    for j in jobs:
        j.join(30)
    return rate


def main() -> None:
    """Measure and print the table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanishing", choices=sorted(PRESETS))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto: where the twins train")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = PRESETS[args.preset].config.replace(device=args.device)
    server = JobServer(cap=4, limit=8)
    try:
        results = {"a_bare": bare(config, args.seconds),
                    "b_one_job_with_reader": jobs_rate(server, config, 1, args.seconds, reader=True)}
        for count in (1, 2, 4):
            results[f"c_{count}_jobs"] = jobs_rate(server, config, count, args.seconds, reader=False)
    finally:
        server.shutdown()
    ratios = {"b/a": results["b_one_job_with_reader"] / results["a_bare"],
              "2 jobs / 1 job": results["c_2_jobs"] / results["c_1_jobs"],
              "4 jobs / 2 jobs": results["c_4_jobs"] / results["c_2_jobs"]}
    print(f"preset {args.preset} on {args.device}, {len(os.sched_getaffinity(0))} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    for name, value in results.items():
        print(f"  {name:24s} {value:8.1f} twin steps/s")
    for name, value in ratios.items():
        print(f"  {name:24s} {value:8.2f}")
    if args.json:
        print(json.dumps({"rates": results, "ratios": ratios}))


if __name__ == "__main__":
    main()
