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

How long to wait:

* **Busy** (429, 503): the server is up but saturated, so waits grow like prefect-client's,
  ``BUSY_INITIAL_DELAY * 2**(n-1)`` (2, 4, 8, 16, 32 s: about 62 s over 5 retries) up to
  ``BUSY_MAX_DELAY``, with symmetric jitter. A shorter budget gives up on a busy SQLite
  server that prefect-client outlasts.
* **Transient** (connection errors, 408, 502): ``RETRY_INITIAL_DELAY`` doubling up to
  ``RETRY_MAX_DELAY``, with jitter, so an unreachable server fails in seconds.
* A ``Retry-After`` header (seconds or an HTTP date) is honoured: the wait is at least the
  server's value, times up to ``1 + RETRY_AFTER_JITTER``, capped at ``RETRY_AFTER_CAP``.

A deadline always wins: :func:`sleep_fits` says no to a sleep that would end at or past it
(the caller then raises the last error), and :func:`cut_timeout` bounds each attempt by the
time left.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable

from skiff._exceptions import APIConnectionError, APIStatusError
from skiff.client._constants import (
    BUSY_INITIAL_DELAY,
    BUSY_JITTER,
    BUSY_MAX_DELAY,
    BUSY_STATUS_CODES,
    RETRY_AFTER_CAP,
    RETRY_AFTER_JITTER,
    RETRY_INITIAL_DELAY,
    RETRY_JITTER,
    RETRY_MAX_DELAY,
    RETRY_STATUS_CODES,
)

__all__ = [
    "backoff_delay",
    "cut_timeout",
    "is_busy",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
    "sleep_fits",
]


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


def is_busy(error: BaseException | None) -> bool:
    """Whether the server answered "busy" (429, 503), which earns the long backoff."""
    return isinstance(error, APIStatusError) and error.status_code in BUSY_STATUS_CODES


def backoff_delay(
    attempt: int, *, busy: bool = False, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter for the ``attempt``-th retry (1-based)."""
    if busy:
        initial, maximum, jitter = BUSY_INITIAL_DELAY, BUSY_MAX_DELAY, BUSY_JITTER
    else:
        initial, maximum, jitter = RETRY_INITIAL_DELAY, RETRY_MAX_DELAY, RETRY_JITTER
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base * (1 - jitter + 2 * jitter * rand())


def retry_delay(
    attempt: int,
    error: BaseException | None,
    *,
    rand: Callable[[], float] = random.random,
    now: float | None = None,
    patient: bool = True,
) -> float:
    """How long to sleep before retry ``attempt`` after ``error``: the backoff, or the
    server's Retry-After (jittered upwards, capped) when that is longer.

    ``patient=False`` keeps the short schedule for busy answers too: the reporter, whose
    sleeps end at a flush deadline of seconds, retries a 503 soon rather than never.
    """
    delay = backoff_delay(attempt, busy=patient and is_busy(error), rand=rand)
    if isinstance(error, APIStatusError):
        after = parse_retry_after(error.response.headers.get("retry-after"), now=now)
        if after is not None:
            asked = after * (1 + RETRY_AFTER_JITTER * rand())
            delay = max(delay, min(asked, RETRY_AFTER_CAP))
    return delay


def sleep_fits(delay: float, deadline: float | None, *, now: float) -> bool:
    """Whether sleeping ``delay`` seconds from ``now`` still ends before ``deadline``.

    ``deadline`` is a ``time.monotonic()`` value, or None for no deadline. A sleep that
    would end on or past it is not worth taking: no attempt could follow it in time.
    """
    return deadline is None or now + delay < deadline


def cut_timeout(timeout: float | None, deadline: float | None, *, now: float) -> float | None:
    """The per-request timeout, cut to the time left before ``deadline`` (None: no limit)."""
    if deadline is None:
        return timeout
    left = deadline - now
    return left if timeout is None else min(timeout, left)
