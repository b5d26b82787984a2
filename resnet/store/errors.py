"""The store's one error type and its one-line messages."""

from __future__ import annotations


class StoreError(ValueError):
    """A run store that cannot be used, or a request it cannot answer; the message is one line."""


def one_line(err: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none)."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
