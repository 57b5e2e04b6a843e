"""Retry decisions as pure functions; tenacity only drives them.

What is retried, and why:

* **408, 429, 502, 503**: the server or a proxy in front of it said "not now"; the request
  was not processed, so sending it again is safe for every method.
* **Connection errors and timeouts** (:class:`~skiff.APIConnectionError`): nothing was
  received. For idempotent methods (GET, PUT, DELETE, and the read-only POST routes
  such as ``/filter`` and ``/count``) this is always safe. Creates are retried too,
  because the routes skiff uses for them are idempotent on the server: ``POST /flows/``
  upserts by name, ``POST /flow_runs/`` and ``POST /deployments/{id}/create_flow_run``
  honour ``idempotency_key``, and task-run events carry their own ids, so the server
  deduplicates a second delivery. Callers that cannot accept a duplicate pass
  ``retry=False``.
* Everything else (other 4xx, 500, 504) is final: repeating it gives the same answer
  or risks doing the work twice.

Waits grow exponentially from ``RETRY_INITIAL_DELAY`` up to ``RETRY_MAX_DELAY`` with
jitter, and a ``Retry-After`` header (seconds or an HTTP date) wins when it is longer,
capped at ``RETRY_AFTER_CAP``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable

from skiff.client._constants import (
    RETRY_AFTER_CAP,
    RETRY_INITIAL_DELAY,
    RETRY_JITTER,
    RETRY_MAX_DELAY,
    RETRY_STATUS_CODES,
)
from skiff.client._exceptions import APIConnectionError, APIStatusError

__all__ = ["backoff_delay", "parse_retry_after", "retry_delay", "should_retry"]


def should_retry(error: BaseException) -> bool:
    """Whether a failed attempt is worth another one."""
    if isinstance(error, APIStatusError):
        return error.status_code in RETRY_STATUS_CODES
    return isinstance(error, APIConnectionError)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:
            return None
        seconds = float(parsed.timestamp()) - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(attempt: int, *, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter for the ``attempt``-th retry (1-based)."""
    base = min(RETRY_MAX_DELAY, RETRY_INITIAL_DELAY * 2.0 ** max(0, attempt - 1))
    return base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * rand())


def retry_delay(
    attempt: int,
    error: BaseException | None,
    *,
    rand: Callable[[], float] = random.random,
    now: float | None = None,
) -> float:
    """How long to sleep before retry ``attempt`` after ``error``: Retry-After if longer, else backoff."""
    delay = backoff_delay(attempt, rand=rand)
    if isinstance(error, APIStatusError):
        after = parse_retry_after(error.response.headers.get("retry-after"), now=now)
        if after is not None:
            delay = max(delay, min(after, RETRY_AFTER_CAP))
    return delay
