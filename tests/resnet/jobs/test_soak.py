"""The soak benchmark's short version: live twins with a 2 Hz reader, shortcuts switched, the store consistent."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import soak


def test_a_minute_of_live_training_keeps_the_store_consistent(tmp_path: Path) -> None:
    samples, final = soak(30, sample_every=3, toggle_every=8, store_path=tmp_path / "runs.db")
    assert len(samples) >= 4
    assert [s.problems for s in samples if s.problems] == []
    steps = [s.step for s in samples]
    assert steps == sorted(steps) and steps[-1] > steps[0]  # it kept training with the reader running
    assert final >= steps[-1]  # -1 if not: after the pause, both stored runs hold every step shown
