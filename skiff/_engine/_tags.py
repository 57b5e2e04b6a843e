"""The ``tags()`` context: tags added to every flow and task run created inside it."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["current_tags", "tags"]

_tags: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "skiff_tags", default=frozenset()
)


def current_tags() -> frozenset[str]:
    """The tags of the enclosing ``tags()`` blocks (and of the running flow)."""
    return _tags.get()


@contextlib.contextmanager
def tags(*new_tags: str) -> Iterator[set[str]]:
    """Add ``new_tags`` to every run created in this block: ``with tags("a", "b"): ...``.

    Yields the set of tags now in effect, as Prefect does.
    """
    for tag in new_tags:
        if not isinstance(tag, str):
            from skiff._exceptions import ValidationError

            raise ValidationError(f"tags() takes strings, got {tag!r}")
    token = _tags.set(_tags.get() | frozenset(new_tags))
    try:
        yield set(_tags.get())
    finally:
        _tags.reset(token)


def enter(extra: frozenset[str]) -> contextvars.Token[frozenset[str]] | None:
    """Add ``extra`` for the current context (a flow's own tags); None when nothing changes."""
    if not extra or extra <= _tags.get():
        return None
    return _tags.set(_tags.get() | extra)


def leave(token: contextvars.Token[frozenset[str]] | None) -> None:
    """Undo :func:`enter`."""
    if token is not None:
        _tags.reset(token)
