"""`python -m resnet talk ...`: check a talk file, record a talk's preset scenes ahead into one run file."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from resnet.devices import DEVICES
from resnet.store import RunStore
from resnet.talk_record import record_talk
from resnet.talks import Talk, find_talk, load_talk


def add_talk_commands(commands: argparse._SubParsersAction) -> None:
    """Add `talk check` and `talk record` to the CLI's commands."""
    talk = commands.add_parser("talk", help="check a talk file, or record its runs ahead for offline replay")
    actions = talk.add_subparsers(dest="action", required=True, metavar="{check,record}")
    p = actions.add_parser("check", help="validate a talk file and summarise its scenes")
    p.add_argument("file", help="a talk's TOML file")
    p.set_defaults(func=cmd_check)
    p = actions.add_parser("record", help="train every preset scene's twins into one run file")
    p.add_argument("talk", help="a talk's name (talks/ or $GFL_TALKS) or its TOML file")
    p.add_argument("--out", required=True, help="the run file to write (`runs import` reads it elsewhere); "
                                                "scenes it already holds are not trained again")
    p.add_argument("--device", choices=DEVICES, default="auto")
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
        detail = f"{scene.source} {what['kind'] if scene.source == 'analysis' else what}"
        if scene.preset is not None:
            detail += f", {scene.total_steps} steps" + (f", {len(scene.actions)} action(s)" if scene.actions else "")
        print(f"{number:>3}. {scene.title} ({detail})")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record every preset scene's twins, actions included, into the run file `--out`."""
    talk = _talk(args.talk)
    store = RunStore(args.out)
    presets = [n for n, s in enumerate(talk.scenes, start=1) if s.preset is not None]
    last = {"scene": 0}

    def progress(number: int, step: int, role: str) -> None:
        if number != last["scene"]:
            last["scene"] = number
            print(f"scene {number}: training {talk.scenes[number - 1].preset} twins", file=sys.stderr)

    done = record_talk(talk, store, device=args.device, on_progress=progress)
    with sqlite3.connect(store.path) as con:
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to carry, no -wal beside it
    for number in presets:
        plain, residual = done[number]
        print(f"scene {number}: runs {plain} (plain) and {residual} (residual)")
    print(f"{talk.name}: {len(presets)} preset scene(s) recorded in {store.path}; import it with "
          f"`python -m resnet runs import {store.path}` and the talk replays them")
    return 0
