"""Run states, as ``skiff.states`` (the same objects as in :mod:`skiff._engine`)."""

from __future__ import annotations

from skiff._engine._states import (
    Cached,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Running,
    State,
    StateType,
    TimedOut,
)

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
