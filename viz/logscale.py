"""Log-scale helpers shared by every figure: log10 with gaps, a shared range, readable ticks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def log10(values: np.ndarray) -> np.ndarray:
    """log10 of positive magnitudes; zeros, negatives and NaN become NaN (a gap, not a colour)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.asarray(values, dtype=np.float64))
    out[~np.isfinite(out)] = np.nan
    return np.round(out, 3)


def log_range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """Shared log10 range over the positive finite values of every array (None if there are none)."""
    logs = [np.log10(a[np.isfinite(a) & (a > 0)]) for a in (np.asarray(x, dtype=np.float64) for x in arrays)]
    logs = [x for x in logs if x.size]
    if not logs:
        return None
    both = np.concatenate(logs)
    lo, hi = float(both.min()), float(both.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log10 range [lo, hi]: decades, or 1-2-5 steps when the range spans two or fewer."""
    first, last = int(np.floor(lo)), int(np.ceil(hi))
    mantissas = (1, 2, 5) if last - first <= 2 else (1,)
    stride = max(1, (last - first) // 8)
    ticks = [m * 10.0**e for e in range(first, last + 1, stride) for m in mantissas]
    return [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]


def decade_labels(ticks: Sequence[float]) -> list[str]:
    """Short tick labels: 1e-3, 2e-3, 1e2 ..."""
    return [f"{t:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e") for t in ticks]
