"""`python -m resnet talk ...`: check a talk file, record a talk's scenes ahead into one run file."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

import torch

from resnet.devices import DEVICES
from resnet.jobs.server import torch_threads
from resnet.store import RunStore
from resnet.talk_record import record_talk
from resnet.talks import SweepSpec, Talk, find_talk, load_talk


def add_talk_commands(commands: argparse._SubParsersAction) -> None:
    """Add `talk check` and `talk record` to the CLI's commands."""
    talk = commands.add_parser("talk", help="check a talk file, or record its runs ahead for offline replay")
    actions = talk.add_subparsers(dest="action", required=True, metavar="{check,record}")
    p = actions.add_parser("check", help="validate a talk file and summarise its scenes")
    p.add_argument("file", help="a talk's TOML file")
    p.set_defaults(func=cmd_check)
    p = actions.add_parser("record", help="train every scene's twins and sweeps, and compute its analysis "
                                          "results, into one run file")
    p.add_argument("talk", help="a talk's name (talks/ or $GFL_TALKS) or its TOML file")
    p.add_argument("--out", required=True, help="the run file to write (`runs import` reads it elsewhere); "
                                                "scenes it already holds are not trained again")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--jobs", type=int, help="a sweep's runs training at once, each in a worker process "
                                            "(default: this machine's cores; 1: one after another in this process)")
    p.set_defaults(func=cmd_record)


def _talk(text: str) -> Talk:
    """A talk by file name if that file exists, else by talk name."""
    return load_talk(text) if text.endswith(".toml") or Path(text).is_file() else find_talk(text)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a talk file: a summary on stdout, or one line naming the scene and field (exit 2)."""
    talk = load_talk(args.file)
    print(f"{talk.path}: {talk.title!r}, {len(talk.scenes)} scene(s)")
    for number, scene in enumerate(talk.scenes, start=1):
        what = getattr(scene, scene.source)
        if scene.analysis is not None:
            detail = f"analysis: {scene.analysis.describe()}"
        elif isinstance(scene.sweep, SweepSpec):
            detail = f"sweep: {scene.sweep.describe()}"
        else:
            detail = f"{scene.source} {what}"
        if scene.preset is not None:
            detail += f", {scene.total_steps} steps" + (f", {len(scene.actions)} action(s)" if scene.actions else "")
        print(f"{number:>3}. {scene.title} ({detail})")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record every scene (a preset's twins with their actions, a sweep, an analysis result) into `--out`."""
    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        raise ValueError(f"jobs must be between 1 and 1024, got {args.jobs}")
    talk = _talk(args.talk)
    store = RunStore(args.out)
    started = time.monotonic()
    # Preset twins and analyses train in this process: on one thread, as a worker does ($GFL_TORCH_THREADS).
    # Measured on a busy 2-core CPU: two threads stepped the vanishing preset's MLP 16x slower than one.
    torch.set_num_threads(torch_threads())

    def announce(number: int, what: str) -> None:
        print(f"scene {number}: {what}", file=sys.stderr)

    done = record_talk(talk, store, device=args.device, jobs=args.jobs, on_scene=announce)
    with sqlite3.connect(store.path) as con:
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to carry, no -wal beside it
    for number, what in done.items():
        print(f"scene {number}: {what}")
    for number, scene in enumerate(talk.scenes, start=1):
        if number not in done and scene.sweep is not None:
            print(f"scene {number}: not recorded (it names sweep '{scene.sweep}' by its tag: record that sweep "
                  "with `python -m resnet sweep`)")
    print(f"{talk.name}: {len(done)} scene(s) recorded in {store.path} in {time.monotonic() - started:.0f} s; "
          f"import it with `python -m resnet runs import {store.path}` and the talk replays them")
    return 0
