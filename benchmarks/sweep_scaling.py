"""Wall time of one 8-run sweep, in one run: sequential, `--backend local --jobs 2`, `--backend ray`.

Usage: .venv/bin/python -m benchmarks.sweep_scaling [--steps N] [--jobs N] [--threads N ...]
The grid: depths 20 and 56, plain and residual, 2 seeds, digits, width 8. Sequential trains the runs
one after another in this process, once for each of `--threads` (default: one thread, the baseline of
the speed goals, and torch's default intra-op threads where that is more, as `python -m resnet sweep`
did before it had backends). Local and Ray train `--jobs` runs at once, one torch thread each; Ray's
time includes starting and stopping its private local cluster. Each mode writes a store of its own;
the table gives each mode's speed-up over each sequential baseline, how many runs finished, and
whether Ray's loss curves equal local's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from resnet.store import RunStore
from resnet.sweeps.driver import run_grid
from resnet.sweeps.grid import SweepGrid
from resnet.sweeps.local import LocalBackend
from resnet.sweeps.ray_tune import RayBackend
from resnet.sweeps.sequential import run_sweep
from resnet.trainer import TrainConfig


def grid(steps: int) -> SweepGrid:
    """The benchmark's grid: 2 depths x 2 nets x 2 seeds on digits at width 8."""
    return SweepGrid(TrainConfig(dataset="digits").replace(width=8), (20, 56), (False, True), 2, (), steps)


def curves(store: RunStore, tag: str) -> list[list[float]]:
    """Every run's loss curve, in grid order."""
    rows = sorted(store.runs(sweep=tag), key=lambda r: (r.config.seed, r.depth, r.residual))
    return [store.tables(r.id)["steps"]["loss"].tolist() for r in rows]


def main() -> None:
    """Measure the modes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="sequential's torch threads, one baseline each (default: 1 and torch's default)")
    args = parser.parse_args()
    g = grid(args.steps)
    threads = args.threads or sorted({1, torch.get_num_threads()})
    print(f"grid: {len(g)} runs x {args.steps} steps; {len(os.sched_getaffinity(0))} cores; "
          f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    times, finished, tags = {}, {}, {}
    baselines = [f"sequential, {n} thread{'s' if n > 1 else ''}" for n in threads]
    with tempfile.TemporaryDirectory() as tmp:
        for n, mode in zip(threads, baselines, strict=True):
            torch.set_num_threads(n)
            store = RunStore(Path(tmp) / f"sequential-{n}" / "runs.db")
            t0 = time.perf_counter()
            finished[mode] = run_sweep(store, g.base, g.depths, steps=g.steps, seeds=g.seeds, nets=g.nets)
            times[mode] = time.perf_counter() - t0
            print(f"  {mode}: {times[mode]:.1f} s", flush=True)
        stores = {m: RunStore(Path(tmp) / m / "runs.db") for m in ("local", "ray")}
        for mode, backend in (("local", lambda: LocalBackend(args.jobs)),
                              ("ray", lambda: RayBackend(num_cpus=args.jobs))):
            t0 = time.perf_counter()
            result = run_grid(stores[mode], g, backend())
            times[mode], finished[mode], tags[mode] = time.perf_counter() - t0, result.rows, result.tag
            print(f"  {mode}: {times[mode]:.1f} s", flush=True)
        same = curves(stores["ray"], tags["ray"]) == curves(stores["local"], tags["local"])
    labels = {**{m: m for m in baselines}, "local": f"local --jobs {args.jobs}",
              "ray": f"ray ({args.jobs}-CPU local cluster)"}
    over = "".join(f" {'over ' + str(n) + ' thr':>12}" for n in threads)
    print(f"\n{'mode':<28} {'wall s':>8}{over} {'finished':>9}")
    for mode, label in labels.items():
        done = sum(r.status == "finished" for r in finished[mode])
        ratios = "".join(f" {times[b] / times[mode]:>11.2f}x" for b in baselines)
        print(f"{label:<28} {times[mode]:>8.1f}{ratios} {done:>5}/{len(g)}")
    print(f"\nray's loss curves equal local's: {same}; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
