"""Argument annotations: ``unmapped``, ``allow_failure`` and ``quote``, as Prefect has them."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

__all__ = ["BaseAnnotation", "allow_failure", "quote", "unmapped"]

T = TypeVar("T")


class BaseAnnotation(Generic[T]):
    """A wrapper around a task argument that changes how the engine treats it."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def unwrap(self) -> T:
        """The wrapped value."""
        return self.value

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self), id(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class unmapped(BaseAnnotation[T]):
    """An argument of ``Task.map`` passed whole to every call instead of iterated."""

    __slots__ = ()

    def __getitem__(self, _index: Any) -> T:
        return self.value


class allow_failure(BaseAnnotation[T]):
    """An upstream future or state whose failure must not stop this task from running.

    The task receives the upstream's exception as the value, as in Prefect.
    """

    __slots__ = ()


class quote(BaseAnnotation[T]):
    """An argument passed as is: futures and states inside it are not resolved."""

    __slots__ = ()
