"""Settings a server's operator sets in its environment (the lab's knobs are validated where they are used)."""

from __future__ import annotations

import os

READ_ONLY_ENV = "GFL_READ_ONLY"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def read_only() -> bool:
    """Whether this server's store is read-only for its visitors ($GFL_READ_ONLY=1): no delete, no import."""
    value = os.environ.get(READ_ONLY_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{READ_ONLY_ENV} must be 1 or 0, got {value!r}")
    return value in _TRUE


def read_only_reason(action: str) -> str | None:
    """Why `action` ("delete runs", "import runs") is refused here, or None where it is allowed."""
    if not read_only():
        return None
    return f"cannot {action}: this lab is read-only ({READ_ONLY_ENV}=1 on its server)"
