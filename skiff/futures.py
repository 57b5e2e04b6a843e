"""Futures of submitted task runs, as ``prefect.futures`` has them.

``TaskRunFuture`` is also importable as ``PrefectFuture``, and ``FutureList`` as
``PrefectFutureList``, so ported type annotations keep working.
"""

from __future__ import annotations

from skiff._engine._futures import (
    DoneAndNotDoneFutures,
    FutureList,
    TaskRunFuture,
    as_completed,
    resolve_futures_to_results,
    resolve_futures_to_states,
    wait,
)

PrefectFuture = TaskRunFuture
PrefectConcurrentFuture = TaskRunFuture
PrefectFutureList = FutureList

__all__ = [
    "DoneAndNotDoneFutures",
    "FutureList",
    "PrefectConcurrentFuture",
    "PrefectFuture",
    "PrefectFutureList",
    "TaskRunFuture",
    "as_completed",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "wait",
]
