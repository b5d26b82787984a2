"""The server's live buffer of a net: what it keeps of a long run, and the view it gives."""

from __future__ import annotations

import numpy as np

from resnet.jobs.live import LIVE_ROWS, NetBuffer

BLOCKS, LAYERS = 3, 2


def payload(first: int, n: int) -> dict:
    """A worker's batch of `n` steps from step `first` (1-based) whose every value is its step."""
    steps = np.arange(first, first + n)
    rows = np.repeat(steps[:, None].astype(np.float32), 4 * BLOCKS + LAYERS, axis=1)
    return {"names": [f"b{i}" for i in range(BLOCKS)], "layer_names": ["l0", "l1"], "steps": steps, "rows": rows,
            "loss": [float(s) for s in steps], "train_error": [0.5] * n, "test_steps": [], "test_error": [],
            "events": [], "shortcuts": [True] * BLOCKS, "status": "running", "label": "res-3", "residual": True,
            "rate": 1.0}


def test_a_long_run_keeps_evenly_spaced_rows_and_its_latest_one() -> None:
    buffer, step = NetBuffer(), 1
    for n in [7, 64, 1, 300] * 60 + [13]:  # batches of every size, 22,333 steps in all
        buffer.append(payload(step, n))
        step += n
    last = step - 1
    assert buffer.rows_kept <= 2 * LIVE_ROWS and buffer.stride > 1
    view = buffer.view(10**6)
    kept = view.steps
    assert kept[-1] == last  # the newest row is always there (the profile draws it)
    body = kept[:-1] if kept[-1] % buffer.stride else kept
    assert np.all(body % buffer.stride == 0) and np.all(np.diff(body) == buffer.stride)  # evenly spaced
    assert body[0] == buffer.stride  # from the start of the run
    np.testing.assert_array_equal(view.grad_norm[:, 0], kept)  # each row is its own step's row
    np.testing.assert_array_equal(view.layer_grad_norm[:, 1], kept)
    assert buffer.step == last and len(view.loss) == last  # the curves stay whole


def test_a_short_run_keeps_every_row() -> None:
    buffer = NetBuffer()
    buffer.append(payload(1, 100))
    buffer.append(payload(101, 50))
    view = buffer.view(10**6)
    np.testing.assert_array_equal(view.steps, np.arange(1, 151))
    assert buffer.stride == 1
