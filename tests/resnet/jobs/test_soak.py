"""The soak benchmark's short version: live twins with a 2 Hz reader, shortcuts switched, the store consistent."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import soak
from resnet.store import RunStore


def test_live_training_keeps_the_store_consistent(tmp_path: Path) -> None:
    samples, final = soak(15, sample_every=2.5, toggle_every=4, store_path=tmp_path / "runs.db")
    assert len(samples) >= 4  # samples at 2.5, 5, ... 12.5 s
    assert [s.problems for s in samples if s.problems] == []
    steps = [s.step for s in samples]
    assert steps == sorted(steps) and steps[-1] > steps[0]  # it kept training with the reader running
    assert final >= steps[-1]  # -1 if not: after the pause, both stored runs hold every step shown


def test_a_pair_that_reaches_its_last_step_is_checked_and_reset(tmp_path: Path) -> None:
    samples, final = soak(8, sample_every=2, toggle_every=60, total_steps=60, store_path=tmp_path / "runs.db")
    assert [s.problems for s in samples if s.problems] == []  # each finished pair held all its 60 steps
    runs = RunStore(tmp_path / "runs.db").runs()
    finished = [r for r in runs if r.status == "finished"]
    assert len(finished) >= 2 and all(r.steps == 60 for r in finished)  # at least one pair ran to its end
    assert final >= 0 and all(s.rate >= 0 for s in samples)
