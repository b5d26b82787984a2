"""Where each run of a sweep is, as every backend reports it to its front end."""

from __future__ import annotations

from dataclasses import dataclass

ENDED = ("finished", "stopped", "failed", "diverged", "interrupted", "cancelled")


@dataclass(frozen=True)
class RunProgress:
    """One run of a sweep: its grid point, state and steps so far."""

    index: int  # the grid point
    title: str  # "plain-56 seed 0 digits"
    state: str  # "queued", "starting", "running", or one of ENDED
    step: int
    steps: int
    seconds: float = 0.0  # training time so far
    run_id: int | None = None
    where: str = ""  # the host it trains on (Ray), else ""
    pid: int | None = None  # the process it trains in, once started
    message: str = ""

    @property
    def rate(self) -> float:
        """Iterations per second so far."""
        return self.step / self.seconds if self.seconds > 0 else 0.0

    @property
    def ended(self) -> bool:
        """Whether the run will train no more."""
        return self.state in ENDED


def fraction(progress: list[RunProgress]) -> float:
    """Share of the sweep's steps done (an ended run counts in full)."""
    total = sum(p.steps for p in progress)
    done = sum(p.steps if p.ended else p.step for p in progress)
    return done / total if total else 1.0
