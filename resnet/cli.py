"""`python -m resnet`: train, sweep and manage recorded runs headless (a GPU box the night before a talk)."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from resnet.checkpoint_runs import import_checkpoint
from resnet.cli_talk import add_talk_commands
from resnet.data import DATASETS, IMAGE_DATASETS
from resnet.devices import DEVICES
from resnet.layers import ACTS, NORMS
from resnet.nets import BLOCKS
from resnet.presets import PRESETS, get_preset
from resnet.recording import record
from resnet.shortcuts import SHORTCUTS
from resnet.store import RunInfo, RunStore, refuse_if_read_only
from resnet.sweeps.board import SweepBoard
from resnet.sweeps.driver import run_grid
from resnet.sweeps.grid import FIG1_DEPTHS, PAPER_DEPTHS, SweepGrid, new_tag
from resnet.sweeps.local import LocalBackend
from resnet.trainer import FAMILIES, OPTIMIZERS, SCHEDULES, TrainConfig, Trainer
from resnet.zoo import MODELS

FIGURE_FORMATS = ("png", "svg", "gif", "animation", "report")  # figure_export.py writes these

SWEEP_DEFAULTS = get_preset("degradation")  # with FIG1_DEPTHS, a bare `sweep` reproduces Fig. 1's ordering


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (exit code 2), without the usage block."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class ProgressBar:
    """A one-line progress bar on stderr; on a non-terminal, a line every 10%."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, every: float = 0.2) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._decile = -1
        self._t0 = time.monotonic()

    def update(self, step: int, loss: float | None = None, error: float | None = None) -> None:
        """Show `step` of the total (throttled)."""
        now = time.monotonic()
        decile = 10 * step // max(1, self.total)
        if self.tty and now - self._last < self.every and step < self.total:
            return
        if not self.tty and decile == self._decile:
            return
        self._last, self._decile = now, decile
        width = 30
        filled = width * step // max(1, self.total)
        rate = step / max(1e-9, now - self._t0)
        stats = "" if loss is None else f" loss {loss:.3f} err {error:.3f}"
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {step}/{self.total}{stats} {rate:.1f} it/s"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="run store file (default: $GFL_STORE, else runs/runs.db)")


def _add_model_flags(p: argparse.ArgumentParser, *, family: bool) -> None:
    if family:
        p.add_argument("--model", choices=FAMILIES, help="cnn: CIFAR-style ResNet; mlp: fully connected stack")
        p.add_argument("--depth", type=int, help="cnn: 6n+2 (basic) or 9n+2 (bottleneck); mlp: blocks")
    p.add_argument("--width", type=int, help="cnn: first-stage filters (paper: 16); mlp: hidden units")
    p.add_argument("--block", choices=tuple(BLOCKS))
    p.add_argument("--shortcut", choices=SHORTCUTS, help="A: zero-pad identity, B: project on shape change, "
                                                        "C: project always")
    p.add_argument("--preact", action=argparse.BooleanOptionalAction, default=None,
                   help="full pre-activation blocks (He et al. 2016)")
    p.add_argument("--norm", choices=NORMS)
    p.add_argument("--act", choices=ACTS)
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float, help="learning rate (paper: 0.1)")
    p.add_argument("--batch", type=int, help="batch size (paper: 128)")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--data-root", help="folder holding torchvision data sets")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (CUDA only)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last memory format for CNNs (CUDA only)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    _add_store(p)


def build_parser() -> Parser:
    """The command-line interface."""
    parser = Parser(prog="python -m resnet", description="Train plain and residual nets, record and replay runs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,sweep,runs,talk}")

    train = commands.add_parser("train", help="train one net, recording it into the store")
    train.add_argument("preset", nargs="?", choices=tuple(PRESETS),
                       help="start from a preset; flags override its settings")
    _add_model_flags(train, family=True)
    twin = train.add_mutually_exclusive_group()
    twin.add_argument("--residual", dest="residual", action="store_true", default=None, help="with shortcuts")
    twin.add_argument("--plain", dest="residual", action="store_false", help="without shortcuts")
    train.add_argument("--name", help="a name for the run (default: plain-56, res-20, ...)")
    train.add_argument("--full", action="store_true",
                       help="record every step's probe rows (default: exact for the first 1,000 steps, then "
                            "windows of mean, min and max, about 1,000 over the run)")
    train.set_defaults(func=cmd_train)

    sweep = commands.add_parser("sweep", help="plain and residual CNNs at several depths (Fig. 1 and 6)")
    _add_model_flags(sweep, family=False)
    sweep.add_argument("--depths", type=int, nargs="+", help=f"depths, e.g. {' '.join(map(str, PAPER_DEPTHS))}")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds per net (seed, seed+1, ...)")
    sweep.add_argument("--nets", nargs="+", choices=("plain", "residual"), default=["plain", "residual"])
    sweep.add_argument("--datasets", nargs="+", choices=IMAGE_DATASETS, help="one grid per data set")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: worker processes on this machine (default); ray: Ray Tune trials on a cluster")
    sweep.add_argument("--jobs", type=int, help="runs training at once (default: this machine's cores); "
                                                "with ray and no address, the private cluster's CPUs")
    sweep.add_argument("--address", help="Ray cluster address (default: $GFL_RAY_ADDRESS, else a private local one)")
    sweep.add_argument("--resume", metavar="TAG", help="finish sweep TAG: train only the runs it has not finished "
                                                       "(give the sweep's own flags)")
    sweep.set_defaults(func=cmd_sweep)

    runs = commands.add_parser("runs", help="list, show, export, import or delete recorded runs")
    actions = runs.add_subparsers(dest="action", required=True,
                                  metavar="{list,show,export,import,import-checkpoint,delete}")
    p = actions.add_parser("list", help="every run, newest first")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    _add_store(p)
    p.set_defaults(func=cmd_list)
    p = actions.add_parser("show", help="one run's config and results")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    _add_store(p)
    p.set_defaults(func=cmd_show)
    p = actions.add_parser("export", help="write a run as CSV or Parquet tables, or as a run file")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=("csv", "parquet", "run", *FIGURE_FORMATS), default="run",
                   help="run: one file that `runs import` reads elsewhere (default); png/svg: every figure, "
                        "one file each; gif: the heatmaps filling in; animation: an HTML with Plotly frames; "
                        "report: the HTML report")
    p.add_argument("--out", required=True, help="folder for csv/parquet and the figures; file name for run")
    _add_store(p)
    p.set_defaults(func=cmd_export)
    p = actions.add_parser("import", help="copy the runs of a run file into the store")
    p.add_argument("file")
    _add_store(p)
    p.set_defaults(func=cmd_import)
    p = actions.add_parser("import-checkpoint", help="record a checkpoint of a zoo model as a run (its test error "
                                                     "scored once)")
    p.add_argument("file", help="a state dict (.pt, .pth, .th) or a run file")
    p.add_argument("--arch", required=True, choices=MODELS, metavar="NAME", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--dataset", choices=IMAGE_DATASETS, default="digits", help="scored on its test set")
    p.add_argument("--input-size", type=int, default=0, help="torchvision models: image side (default 32)")
    p.add_argument("--plain", action="store_true", help="the file is a net trained with every shortcut off")
    p.add_argument("--name")
    p.add_argument("--data-root", help="folder holding torchvision data sets")
    _add_store(p)
    p.set_defaults(func=cmd_import_checkpoint)
    p = actions.add_parser("delete", help="remove runs and everything recorded for them")
    p.add_argument("ids", type=int, nargs="+")
    _add_store(p)
    p.set_defaults(func=cmd_delete)
    add_talk_commands(commands)
    return parser


def _config(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """`base` with every flag the user gave applied (ModelSpec keys go to the model)."""
    changes = {"family": getattr(args, "model", None), "depth": getattr(args, "depth", None),
               "residual": getattr(args, "residual", None), "width": args.width, "block": args.block,
               "shortcut": args.shortcut, "preact": args.preact, "norm": args.norm, "act": args.act,
               "dataset": args.dataset, "lr": args.lr, "batch_size": args.batch, "optimizer": args.optimizer,
               "schedule": args.schedule, "seed": args.seed, "device": args.device, "data_root": args.data_root,
               "amp": args.amp, "channels_last": args.channels_last}
    return base.replace(**{k: v for k, v in changes.items() if v is not None})


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2))


def cmd_train(args: argparse.Namespace) -> int:
    """Train one net into the store."""
    preset = get_preset(args.preset) if args.preset else None
    config = _config(args, preset.config if preset else TrainConfig())
    steps = args.steps if args.steps is not None else (preset.steps if preset else 400)
    store = RunStore(args.store)
    trainer = Trainer(config, total_steps=steps)
    bar = ProgressBar(steps, args.name or config.model.label)
    try:
        run_id = record(store, trainer, name=args.name, full=args.full,
                        on_step=lambda t: bar.update(t.step_count, t.loss[-1], t.train_error[-1]))
    finally:
        bar.close()
        trainer.close()
    info = store.run(run_id)
    summary = store.summary(run_id)
    if info.message:
        print(f"{info.name}: {info.message}", file=sys.stderr)
    result = {"run_id": run_id, "name": info.name, "status": info.status, "steps": info.steps,
              "seconds": round(info.seconds, 2), "train_error": summary.train_error,
              "test_error": summary.test_error, "final_loss": summary.final_loss, "device": info.device,
              "store": str(store.path)}
    if args.json:
        _print_json(result)
    else:
        print(f"run {run_id} {info.name}: {info.status} after {info.steps} steps in {info.seconds:.1f} s; "
              f"training error {summary.train_error:.4f}, test error {_fmt(summary.test_error)} ({store.path})")
    return 1 if info.status == "failed" else 0


def _sweep_backend(args: argparse.Namespace):
    """The backend the flags ask for (Ray is imported only when chosen)."""
    if args.backend == "local":
        if args.address:
            raise ValueError("--address needs --backend ray")
        return LocalBackend(args.jobs)
    from resnet.sweeps.ray_tune import RayBackend

    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        raise ValueError(f"jobs must be between 1 and 1024, got {args.jobs}")
    return RayBackend(args.address, num_cpus=args.jobs)


def cmd_sweep(args: argparse.Namespace) -> int:
    """A grid of plain and residual nets (depths x seeds x data sets), recorded, on one backend."""
    if args.dataset and args.datasets:
        raise ValueError("give --dataset or --datasets, not both")
    base = _config(args, SWEEP_DEFAULTS.config)
    steps = args.steps if args.steps is not None else SWEEP_DEFAULTS.steps
    grid = SweepGrid(base, tuple(args.depths or FIG1_DEPTHS), tuple(n == "residual" for n in args.nets), args.seeds,
                     tuple(args.datasets or ()), steps)
    store = RunStore(args.store)
    backend = _sweep_backend(args)
    tag = args.resume or new_tag(base, steps)
    board = SweepBoard(len(grid))
    try:
        result = run_grid(store, grid, backend, tag=tag, resume=args.resume is not None, on_progress=board.update)
    except KeyboardInterrupt:
        board.close()
        print(f"\ninterrupted: the sweep's runs are kept in the store as stopped; finish it with the same flags "
              f"and --resume '{tag}'", file=sys.stderr)
        return 130
    board.close()
    if args.json:
        _print_json({"sweep": result.tag, "backend": backend.name, "trained": result.trained,
                     "skipped": result.skipped, "runs": [r.to_dict() for r in result.rows],
                     "aggregates": result.aggregates(),
                     "unrecorded": [{"title": p.title, "message": p.message} for p in result.unrecorded]})
    else:
        _print_sweep(result)
    failed = result.unrecorded or any(r.status == "failed" for r in result.rows)
    return 1 if failed else 0


def _print_sweep(result) -> None:
    """The sweep's runs as a table, then the spread over seeds of each configuration that has several."""
    print(f"sweep '{result.tag}': {result.trained} run(s) trained"
          + (f", {result.skipped} already finished" if result.skipped else ""))
    print(f"{'run':>5} {'net':>10} {'seed':>5} {'data':>8} {'train err':>10} {'test err':>9} {'seconds':>8}  status")
    for r in result.rows:
        print(f"{r.run_id:>5} {r.net:>10} {r.seed:>5} {r.dataset:>8} {r.train_error:>10.4f} {_fmt(r.test_error):>9} "
              f"{r.seconds:>8.1f}  {r.status}" + (f" ({r.message})" if r.message else ""))
    for p in result.unrecorded:
        print(f"{'-':>5} {p.title}: failed before it was recorded ({p.message})")
    for a in result.aggregates():
        if len(a["seeds"]) > 1:
            t, e = a["train_error"], a["test_error"]
            test = "-" if e is None else f"{e['mean']:.4f} +/- {e['std']:.4f}"
            print(f"{a['net']:>10} {a['dataset']:>8} over {len(a['seeds'])} seeds: train err {t['mean']:.4f} +/- "
                  f"{t['std']:.4f} [{t['min']:.4f}, {t['max']:.4f}], test err {test}")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _run_dict(store: RunStore, info: RunInfo) -> dict:
    summary = store.summary(info.id)
    return {**info.to_dict(), "label": info.label, "train_error": summary.train_error,
            "test_error": summary.test_error, "final_loss": summary.final_loss}


def cmd_list(args: argparse.Namespace) -> int:
    """Every run, newest first."""
    store = RunStore(args.store)
    runs = store.runs(limit=args.limit)
    for run_id, name, why in store.broken():  # listed apart, so the rest still read as they should
        print(f"run {run_id} ({name}) is broken: {why}; `runs delete {run_id}` removes it", file=sys.stderr)
    if args.json:
        _print_json([_run_dict(store, r) for r in runs])
        return 0
    if not runs:
        print(f"no runs in {store.path}")
        return 0
    print(f"{'id':>5}  {'name':<16} {'status':<12} {'steps':>13}  {'device':<7} {'started':<19}  "
          f"{'train err':>9} {'test err':>9}")
    for r in runs:
        s = store.summary(r.id)
        print(f"{r.id:>5}  {r.name[:16]:<16} {r.status:<12} {f'{r.steps}/{r.total_steps}':>13}  {r.device:<7} "
              f"{_when(r.started):<19}  {s.train_error:>9.4f} {_fmt(s.test_error):>9}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One run in full."""
    store = RunStore(args.store)
    d = _run_dict(store, store.run(args.id))
    if args.json:
        _print_json(d)
        return 0
    for key in ("id", "key", "pair", "name", "label", "sweep", "status", "steps", "total_steps", "seconds", "device",
                "host", "message", "train_error", "test_error", "final_loss"):
        print(f"{key:>12}: {d[key]}")
    print(f"{'started':>12}: {_when(d['started'])}\n{'ended':>12}: {_when(d['ended'])}")
    print(f"{'config':>12}: {json.dumps(d['config'])}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's tables or its run file."""
    store = RunStore(args.store)
    if args.format in FIGURE_FORMATS:
        from figure_export import (
            export_figures,  # the figure front end (top level, beside app.py): viz/ is imported only there
        )

        paths = export_figures(store, args.id, args.out, args.format)
    elif args.format == "run":
        paths = [store.export_run(args.id, args.out)]
    else:
        paths = store.export_tables(args.id, args.out, args.format)
    for path in paths:
        print(path)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Copy a run file's runs into the store."""
    store = RunStore(args.store)
    imported = store.import_run(args.file)
    print(imported.summary(store.path))
    return 0 if imported.ids or not imported.refused else 1


def cmd_import_checkpoint(args: argparse.Namespace) -> int:
    """Record a checkpoint file as a run."""
    store = RunStore(args.store)
    imported = import_checkpoint(store, args.file, arch=args.arch, dataset=args.dataset, input_size=args.input_size,
                                 plain=args.plain, name=args.name, data_root=args.data_root)
    print(imported.summary(store.path))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Remove runs."""
    store = RunStore(args.store)
    refuse_if_read_only("delete runs")
    broken = {b[0] for b in store.broken()}
    for run_id in args.ids:
        if run_id not in broken:
            store.run(run_id)  # refuse all before deleting any
    for run_id in args.ids:
        store.delete(run_id)
    print(f"deleted run(s) {', '.join(map(str, args.ids))} from {store.path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad arguments, with one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # engine and store knobs say what is valid; StoreError is one too
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"python -m resnet: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the run is kept in the store as stopped", file=sys.stderr)
        return 130
