"""Run states: what a flow or task run is doing, named as Prefect names them.

A :class:`State` is a small immutable-looking object with Prefect's ``type`` (one of
:class:`StateType`) and ``name`` (``"Completed"``, ``"Cached"``, ``"TimedOut"``, ...). A
final state keeps the run's return value or exception so ``state.result()`` can give it
back, without ever writing it anywhere.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
import uuid
from typing import Any

from skiff._engine._ids import new_id

__all__ = [
    "AwaitingRetry",
    "Cached",
    "Cancelling",
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "TimedOut",
    "return_value_to_state",
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
_UNSUCCESSFUL = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
_NO_RESULT: Any = object()
_GENERATOR = types.GeneratorType


_now = _dt.datetime.now
_UTC = _dt.timezone.utc


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware UTC (the server stores every timestamp so)."""
    return _now(_UTC)


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
        self.timestamp = timestamp or _now(_UTC)
        self._id: str | None = None
        self.details: dict[str, Any] = details or {}
        self._data = data

    @property
    def id(self) -> uuid.UUID:
        """A unique id, made on first use (most states never need one)."""
        return uuid.UUID(self.wire_id)

    @property
    def wire_id(self) -> str:
        """:attr:`id` as the string a request carries."""
        if self._id is None:
            self._id = new_id()
        return self._id

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's return value; for a failed run, raise (or return) its exception."""
        data = self._data
        if self.type in _UNSUCCESSFUL:
            error = self._exception()
            if raise_on_failure:
                raise error
            return error
        if data is _NO_RESULT:
            if not self.is_final() and raise_on_failure:
                from skiff._engine._errors import UnfinishedRun

                raise UnfinishedRun(
                    f"Run is in {self.type.value} state, its result is not available."
                )
            return None
        if isinstance(data, State):
            return data.result(raise_on_failure)
        return data

    def _exception(self) -> BaseException:
        """The exception a failed, crashed or cancelled state stands for (Prefect's rules)."""
        data = self._data
        if isinstance(data, BaseException):
            return data
        inner = [data] if isinstance(data, State) else data
        if isinstance(inner, (list, tuple, set)):
            for state in inner:
                if isinstance(state, State) and state.type in _UNSUCCESSFUL:
                    return state._exception()
        from skiff._engine import _errors

        wrapper, default = {
            StateType.FAILED: (_errors.FailedRun, "Run failed."),
            StateType.CRASHED: (_errors.CrashedRun, "Run crashed."),
        }.get(self.type, (_errors.CancelledRun, "Run cancelled."))
        if isinstance(data, str):
            return wrapper(data)
        return wrapper(self.message or default)

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

    def __str__(self) -> str:
        # Prefect's display, as its engine logs it: ``Failed('boom')``, ``Cached(type=COMPLETED)``.
        shown = [repr(self.message)] if self.message else []
        if self.type.value.lower() != self.name.lower():
            shown.append(f"type={self.type.value}")
        return f"{self.name}({', '.join(shown)})"

    def __repr__(self) -> str:
        data = None if self._data is _NO_RESULT else self._data
        return f"{self.name}(message={self.message!r}, type={self.type.value}, result={data!r})"


def _state(
    type: StateType,
    default_name: str,
    message: str | None,
    name: str | None,
    data: Any,
    state_details: dict[str, Any] | None,
) -> State:
    return State(type, name or default_name, message, data=data, details=state_details)


def Scheduled(
    message: str | None = None,
    *,
    scheduled_time: _dt.datetime | None = None,
    name: str | None = None,
    data: Any = _NO_RESULT,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run waiting for its scheduled time."""
    details = dict(state_details or {})
    details["scheduled_time"] = (scheduled_time or utcnow()).isoformat()
    return _state(StateType.SCHEDULED, "Scheduled", message, name, data, details)


def AwaitingRetry(
    message: str | None = None,
    *,
    scheduled_time: _dt.datetime | None = None,
    data: Any = _NO_RESULT,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run that failed and will retry at ``scheduled_time`` (type SCHEDULED)."""
    return Scheduled(
        message,
        scheduled_time=scheduled_time,
        name="AwaitingRetry",
        data=data,
        state_details=state_details,
    )


def Pending(
    message: str | None = None,
    *,
    name: str | None = None,
    data: Any = _NO_RESULT,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run that has not started."""
    return _state(StateType.PENDING, "Pending", message, name, data, state_details)


def Running(
    message: str | None = None,
    *,
    name: str | None = None,
    data: Any = _NO_RESULT,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run in progress."""
    return _state(StateType.RUNNING, "Running", message, name, data, state_details)


def Retrying(message: str | None = None, *, data: Any = _NO_RESULT) -> State:
    """A run in progress again after a failure (type RUNNING)."""
    return _state(StateType.RUNNING, "Retrying", message, None, data, None)


def Completed(
    message: str | None = None,
    *,
    data: Any = None,
    name: str | None = None,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run that succeeded; ``data`` is its result."""
    return _state(StateType.COMPLETED, "Completed", message, name, data, state_details)


def Cached(
    message: str | None = None,
    *,
    data: Any = None,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A task run whose result came from its cache (type COMPLETED)."""
    return _state(StateType.COMPLETED, "Cached", message, None, data, state_details)


def Failed(
    message: str | None = None,
    *,
    data: Any = _NO_RESULT,
    name: str | None = None,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run that failed; ``data`` is its exception, when there is one."""
    return _state(StateType.FAILED, "Failed", message, name, data, state_details)


def TimedOut(message: str | None = None, *, data: Any = _NO_RESULT) -> State:
    """A run stopped by its ``timeout_seconds`` (type FAILED)."""
    return _state(StateType.FAILED, "TimedOut", message, None, data, None)


def Crashed(
    message: str | None = None,
    *,
    data: Any = _NO_RESULT,
    name: str | None = None,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run killed by something outside its code (interrupt, runtime deadline)."""
    return _state(StateType.CRASHED, "Crashed", message, name, data, state_details)


def Cancelling(message: str | None = None, *, name: str | None = None) -> State:
    """A run being cancelled."""
    return _state(StateType.CANCELLING, "Cancelling", message, name, _NO_RESULT, None)


def Cancelled(
    message: str | None = None,
    *,
    data: Any = _NO_RESULT,
    name: str | None = None,
    state_details: dict[str, Any] | None = None,
) -> State:
    """A run cancelled before it finished."""
    return _state(StateType.CANCELLED, "Cancelled", message, name, data, state_details)


def _manual(value: Any) -> bool:
    # A state the user built, not one of a run (runs' states carry their run id).
    return (
        isinstance(value, State)
        and "task_run_id" not in value.details
        and "flow_run_id" not in value.details
    )


def return_value_to_state(value: Any) -> State:
    """The state a run's return value puts it in, by Prefect's rules.

    A state the user built is used as it is; a run's state, or a list of them, gives
    their aggregate (COMPLETED only if all are); anything else is ``Completed(data=value)``.
    """
    if _manual(value):
        return value  # type: ignore[no-any-return]
    states = [value] if isinstance(value, State) else None
    if (
        states is None
        and isinstance(value, (list, tuple, set))
        and value
        and all(isinstance(v, State) for v in value)
    ):
        states = list(value)
    if states is None:
        return Completed(data=list(value) if isinstance(value, _GENERATOR) else value)
    total = len(states)
    failed = sum(s.type in (StateType.FAILED, StateType.CRASHED) for s in states)
    cancelled = sum(s.type is StateType.CANCELLED for s in states)
    if all(s.is_completed() for s in states):
        return State(StateType.COMPLETED, None, "All states completed.", data=value)
    if cancelled:
        return State(
            StateType.CANCELLED, None, f"{cancelled}/{total} states cancelled.", data=value
        )
    if failed:
        return State(StateType.FAILED, None, f"{failed}/{total} states failed.", data=value)
    unfinished = sum(not s.is_final() for s in states)
    return State(StateType.FAILED, None, f"{unfinished}/{total} states are not final.", data=value)
