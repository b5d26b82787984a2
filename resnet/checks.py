"""Validation of user-facing knobs: every bad value becomes a ValueError that says what is valid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, choices))}")
    return value


def flag(name: str, value: bool) -> bool:
    """Return `value` if it is a bool, else raise a ValueError (a string "False" would read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def int_in(name: str, value: int, lo: int, hi: int) -> int:
    """Return `value` if it is an integer in [lo, hi], else raise a ValueError naming the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def float_in(name: str, value: float, lo: float, hi: float, *, lo_open: bool = True) -> float:
    """Return `value` if it is a finite number in (lo, hi] (or [lo, hi]), else raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    low_ok = value > lo if lo_open else value >= lo
    if not (low_ok and value <= hi):
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {bracket}{lo:g}, {hi:g}], got {value:g}")
    return float(value)
