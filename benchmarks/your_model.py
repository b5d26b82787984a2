"""Your model's speed goals: probing resnet50 (batch 8, 224x224) and live resnet18 twins (32x32, batch 32).

    .venv/bin/python -m benchmarks.your_model [--iterations 0 3] [--seconds 15]

(a) probe_batch as the page runs it: a job in a fresh worker of the job server, one torch thread,
timed from submit to result, with the report's own split (build, probe, identity, jacobian), for
each number of power iterations; (b) the same call in this process, cold and then warm; (c) twin
steps per second of resnet18 opened from the Your model page's link: the bare loop, and one live
job while this process redraws the page's figures at 2 Hz.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks.live_throughput import bare, jobs_rate
from resnet.jobs import JobServer
from resnet.query import setup_from_query
from resnet.yourmodel import live_query, probe_batch

PROBE = {"arch": "resnet50", "data": "digits", "input_size": 224, "batch": 8}


def _split(seconds: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.2f}" for k, v in seconds.items())


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.2f}")
    server = JobServer(cap=1, limit=4)
    try:
        server.call("builtins:dict").join(120)  # the forkserver's own start is not the probe's
        for it in args.iterations:
            t0 = time.perf_counter()
            job = server.call("resnet.yourmodel:probe_batch", **PROBE, jacobian_iterations=it)
            job.join(600)
            took = time.perf_counter() - t0
            split = _split(job.result.seconds) if job.state == "done" else job.message
            print(f"(a) worker, {it} power iterations: {took:.2f} s ({split}); load {os.getloadavg()[0]:.2f}")
        for run in ("cold", "warm"):
            t0 = time.perf_counter()
            report = probe_batch(**PROBE, jacobian_iterations=args.iterations[-1])
            print(f"(b) this process, {run}, {args.iterations[-1]} power iterations: "
                  f"{time.perf_counter() - t0:.2f} s ({_split(report.seconds)})")
        config = setup_from_query(live_query("resnet18", input_size=32)).config.replace(device="cpu")
        print(f"(c) resnet18 32x32 batch {config.batch_size}: bare {bare(config, args.seconds):.2f} twin steps/s; "
              f"one job with the page's redraws {jobs_rate(server, config, 1, args.seconds, reader=True):.2f}")
    finally:
        server.shutdown()
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
