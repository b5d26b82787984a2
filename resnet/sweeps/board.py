"""The CLI's view of a sweep in progress: one line per run training, side by side, on stderr.

On a terminal the block of lines is redrawn in place; elsewhere (a log, CI) a line is written
when a run starts, at each quarter of its steps, and when it ends.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from resnet.sweeps.progress import RunProgress, fraction

BAR = 24  # characters of a run's bar


def run_line(p: RunProgress, total: int) -> str:
    """One run's line: place in the sweep, net, bar, steps, speed, where."""
    filled = BAR * p.step // max(1, p.steps)
    where = f" on {p.where}" if p.where else ""
    tail = f" {p.state}" + (f": {p.message}" if p.message else "") if p.ended else f" {p.rate:.1f} it/s{where}"
    return f"[{p.index + 1}/{total}] {p.title} [{'#' * filled}{'.' * (BAR - filled)}] {p.step}/{p.steps}{tail}"


def summary_line(progress: list[RunProgress]) -> str:
    """How far the sweep is: runs done, training, waiting."""
    done = sum(p.ended for p in progress)
    training = sum(p.state == "running" for p in progress)
    return (f"sweep {100 * fraction(progress):.0f}%: {done} of {len(progress)} runs ended, {training} training, "
            f"{len(progress) - done - training} waiting")


class SweepBoard:
    """Draws the runs of a sweep as they train (call `update` with every progress report)."""

    def __init__(self, total: int, stream: TextIO | None = None, every: float = 0.5) -> None:
        self.total = total  # runs in the whole grid (a resumed sweep trains fewer)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self._drawn = 0  # lines of the last redraw (terminal)
        self._last = 0.0
        self._seen: dict[int, tuple[str, int]] = {}  # run -> (state, quarter) last written (log)

    def update(self, progress: list[RunProgress]) -> None:
        """Show the sweep now (throttled on a terminal)."""
        if self.tty:
            now = time.monotonic()
            if now - self._last >= self.every or all(p.ended for p in progress):
                self._last = now
                self._redraw(progress)
            return
        for p in progress:
            key = (p.state, 4 * p.step // max(1, p.steps))
            if p.state != "queued" and self._seen.get(p.index) != key:
                self._seen[p.index] = key
                self.stream.write(run_line(p, self.total) + "\n")
        self.stream.flush()

    def _redraw(self, progress: list[RunProgress]) -> None:
        ended = [p for p in progress if p.ended and p.index not in self._seen]  # written once, above the block
        for p in ended:
            self._seen[p.index] = (p.state, 4)
        lines = [run_line(p, self.total) for p in ended + [p for p in progress if p.state in ("starting", "running")]]
        lines.append(summary_line(progress))
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.stream.write(up + "\x1b[J" + "\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines) - len(ended)

    def close(self) -> None:
        """Leave the last drawing in place."""
        self.stream.flush()
