"""Run states: what a flow or task run is doing, named as Prefect names them.

A :class:`State` is a small immutable-looking object with Prefect's ``type`` (one of
:class:`StateType`) and ``name`` (``"Completed"``, ``"Cached"``, ``"TimedOut"``, ...). A
final state keeps the run's return value or exception so ``state.result()`` can give it
back, without ever writing it anywhere.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from typing import Any

__all__ = [
    "Cached",
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "Pending",
    "Running",
    "State",
    "StateType",
    "TimedOut",
]


class StateType(str, enum.Enum):
    """The state types the Prefect server knows."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


_FINAL = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})
_NO_RESULT: Any = object()


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware UTC (the server stores every timestamp so)."""
    return _dt.datetime.now(_dt.timezone.utc)


class State:
    """One state of a run: ``type``, ``name``, ``message``, ``timestamp`` and its result.

    ``result()`` returns the run's value for a completed state and raises the run's
    exception for a failed or crashed one (``raise_on_failure=False`` returns it instead).
    """

    __slots__ = ("_data", "_id", "details", "message", "name", "timestamp", "type")

    def __init__(
        self,
        type: StateType | str,
        name: str | None = None,
        message: str | None = None,
        *,
        data: Any = _NO_RESULT,
        details: dict[str, Any] | None = None,
        timestamp: _dt.datetime | None = None,
    ) -> None:
        self.type = type if type.__class__ is StateType else StateType(type)
        self.name = name or self.type.value.capitalize()
        self.message = message
        self.timestamp = timestamp or utcnow()
        self._id: uuid.UUID | None = None
        self.details: dict[str, Any] = details or {}
        self._data = data

    @property
    def id(self) -> uuid.UUID:
        """A unique id, made on first use (most states never need one)."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's return value; for a failed run, raise (or return) its exception."""
        data = self._data
        if isinstance(data, BaseException):
            if raise_on_failure:
                raise data
            return data
        if data is _NO_RESULT:
            if self.is_final() and not self.is_completed() and raise_on_failure:
                raise RuntimeError(f"the run ended in state {self.name!r}: {self.message}")
            return None
        return data

    def is_scheduled(self) -> bool:
        """Type SCHEDULED (includes ``AwaitingRetry``)."""
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        """Type PENDING."""
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        """Type RUNNING (includes ``Retrying``)."""
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        """Type COMPLETED (includes ``Cached``)."""
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        """Type FAILED (includes ``TimedOut``)."""
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        """Type CRASHED."""
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        """Type CANCELLED."""
        return self.type is StateType.CANCELLED

    def is_final(self) -> bool:
        """Whether the run is over (completed, failed, cancelled or crashed)."""
        return self.type in _FINAL

    def to_api(self) -> dict[str, Any]:
        """The body the server takes for a state (``StateCreate``)."""
        body: dict[str, Any] = {"type": self.type.value, "name": self.name}
        if self.message is not None:
            body["message"] = self.message
        if self.details:
            body["state_details"] = self.details
        return body

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> State:
        """A state as the server returned it (no result attached)."""
        stamp = body.get("timestamp")
        return cls(
            body.get("type", "PENDING"),
            body.get("name"),
            body.get("message"),
            details=body.get("state_details") or {},
            timestamp=_dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
        )

    def __repr__(self) -> str:
        message = f", message={self.message!r}" if self.message else ""
        return f"{self.name}(type={self.type.value}{message})"


def Pending(message: str | None = None) -> State:
    """A run that has not started."""
    return State(StateType.PENDING, "Pending", message)


def Running(message: str | None = None, name: str = "Running") -> State:
    """A run in progress (``name="Retrying"`` for a retry)."""
    return State(StateType.RUNNING, name, message)


def Completed(data: Any = None, message: str | None = None) -> State:
    """A run that returned ``data``."""
    return State(StateType.COMPLETED, "Completed", message, data=data)


def Cached(data: Any, message: str | None = None, **details: Any) -> State:
    """A task run whose result came from its cache (type COMPLETED)."""
    return State(StateType.COMPLETED, "Cached", message, data=data, details=details)


def Failed(error: BaseException | None = None, message: str | None = None) -> State:
    """A run that raised ``error``."""
    return State(
        StateType.FAILED, "Failed", message, data=error if error is not None else _NO_RESULT
    )


def TimedOut(error: BaseException | None = None, message: str | None = None) -> State:
    """A run stopped by its ``timeout_seconds`` (type FAILED)."""
    return State(
        StateType.FAILED, "TimedOut", message, data=error if error is not None else _NO_RESULT
    )


def Crashed(error: BaseException | None = None, message: str | None = None) -> State:
    """A run killed by something outside its code (interrupt, runtime deadline)."""
    return State(
        StateType.CRASHED, "Crashed", message, data=error if error is not None else _NO_RESULT
    )


def Cancelled(message: str | None = None) -> State:
    """A run cancelled before it finished."""
    return State(StateType.CANCELLED, "Cancelled", message)
