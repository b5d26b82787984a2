"""What recording every statistic every step costs: probe vs bare training steps, interleaved.

    .venv/bin/python -m benchmarks.probe_overhead [--rounds 40] [--steps 5] [--threads 1 --clock cpu]

Each case builds two copies of one network (same weights, same batch) and alternates rounds of
`steps` training steps on the bare copy and on the probed copy, so drifts in machine load hit
both alike. A step is the Trainer's: zero_grad, forward, cross-entropy, backward, [probe.step],
one host sync for loss and error, SGD with momentum. The overhead is the median of the
per-round time ratios, minus one. Goals: the MLP at most +15% (its blocks are so small that Python's
cost of being called per block is most of it), every CNN at most +5%.

The `floor` column is what the probe cannot go below in eager PyTorch: the same bare step with
an empty gradient hook on each block input and nothing computed. Seeing dL/dx at a block's
input at all costs that much; where the floor alone exceeds the budget, no probe that records
`input_grad_norm` every step can meet it on that machine.

On a shared machine, `--threads 1 --clock cpu` times the process's CPU time instead of the
wall clock, so other processes' load does not enter the figures.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from resnet.devices import resolve_device
from resnet.nets import ResidualNet, cifar_resnet, mlp_stack
from resnet.probes import Probe

GOALS = {"mlp": 0.15, "cnn": 0.05}


@dataclass(frozen=True)
class Case:
    """One network, input shape and batch size to time."""

    name: str
    kind: str  # "mlp" or "cnn": which goal applies
    build: Callable[[], ResidualNet]
    sample_shape: tuple[int, ...]
    batch: int


def cases(device: torch.device) -> list[Case]:
    """The issue's two CPU cases, plus ResNet-56 at batch 128 on a GPU."""
    found = [
        Case("MLP, 50 tanh blocks, width 64", "mlp", lambda: mlp_stack(50, width=64, in_features=64, num_classes=10),
             (64,), 256),
        Case("CIFAR net, 56 layers, width 8, 16x16", "cnn", lambda: cifar_resnet(56, width=8), (3, 16, 16), 64),
    ]
    if device.type == "cuda":
        found.append(Case("ResNet-56, width 16, 32x32", "cnn", lambda: cifar_resnet(56), (3, 32, 32), 128))
    return found


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ignore(grad: torch.Tensor) -> None:
    """A gradient hook that does nothing: the price of being called at all."""


def _forward_with_empty_hooks(model: ResidualNet, x: torch.Tensor) -> torch.Tensor:
    """ResidualNet.forward with an empty hook on each block input and no statistics."""
    x = model.stem(x)
    for block in model.blocks:
        x.register_hook(_ignore)
        x = block(x)
    return model.head(x)


def _make_step(model: ResidualNet, x: torch.Tensor, y: torch.Tensor, probe: Probe | None,
               *, empty_hooks: bool = False) -> Callable[[], None]:
    """One training step as Trainer.step takes it: bare, with the probe, or with empty hooks."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if probe is not None:
            model.taps.clear()  # as Trainer.step: the probe's own tap list stays in place
        logits = _forward_with_empty_hooks(model, x) if empty_hooks else model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if probe is not None:
            probe.step()
        error = (logits.argmax(dim=1) != y).float().mean()
        torch.stack([loss.detach(), error]).tolist()  # the Trainer's one sync a step
        opt.step()

    return step


def _time_round(step: Callable[[], None], steps: int, device: torch.device, clock: Callable[[], float]) -> float:
    _sync(device)
    t0 = clock()
    for _ in range(steps):
        step()
    _sync(device)
    return (clock() - t0) / steps


def measure(case: Case, device: torch.device, rounds: int, steps: int,
            clock: Callable[[], float] = time.perf_counter) -> dict:
    """Median step times (ms) bare and probed, and the median per-round ratios of probe and floor."""
    torch.manual_seed(0)
    bare_model = case.build().to(device)
    probed_model = copy.deepcopy(bare_model)
    floor_model = copy.deepcopy(bare_model)
    x = torch.randn(case.batch, *case.sample_shape, device=device)
    y = torch.randint(0, 10, (case.batch,), device=device)
    with Probe(probed_model) as probe:
        bare = _make_step(bare_model, x, y, None)
        probed = _make_step(probed_model, x, y, probe)
        floor = _make_step(floor_model, x, y, None, empty_hooks=True)
        for _ in range(3):  # warm-up: allocator, kernels, the probe's buffer
            bare()
            probed()
            floor()
        times_bare, times_probe, ratios, floor_ratios = [], [], [], []
        for r in range(rounds):
            # Alternate the order so none always follows another.
            order = (bare, probed, floor) if r % 2 == 0 else (floor, probed, bare)
            t = {fn: _time_round(fn, steps, device, clock) for fn in order}
            times_bare.append(t[bare])
            times_probe.append(t[probed])
            ratios.append(t[probed] / t[bare])
            floor_ratios.append(t[floor] / t[bare])
    return {
        "case": case.name,
        "batch": case.batch,
        "bare_ms": 1e3 * statistics.median(times_bare),
        "probe_ms": 1e3 * statistics.median(times_probe),
        "overhead": statistics.median(ratios) - 1,
        "floor": statistics.median(floor_ratios) - 1,
    }


def main() -> None:
    """Run every case on the best device and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved bare/probe rounds per case")
    parser.add_argument("--steps", type=int, default=5, help="training steps per round")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (CPU device only)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.clock == "cpu" and device.type != "cpu":
        parser.error("--clock cpu measures CPU work; use it with --device cpu")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; {args.rounds} rounds x {args.steps} steps; "
          f"{args.clock} clock")
    header = (f"| {'case':<38} | {'batch':>5} | {'bare ms/step':>12} | {'probe ms/step':>13} | {'overhead':>8} "
              f"| {'floor':>6} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for case in cases(device):
        m = measure(case, device, args.rounds, args.steps, clock)
        goal = GOALS[case.kind]
        verdict = "" if m["overhead"] <= goal else f"  over its goal of +{100 * goal:.0f}%"
        print(f"| {m['case']:<38} | {m['batch']:>5} | {m['bare_ms']:>12.2f} | {m['probe_ms']:>13.2f} "
              f"| {100 * m['overhead']:>7.1f}% | {100 * m['floor']:>5.1f}% |{verdict}")


if __name__ == "__main__":
    main()
