"""The reporter's requests: tenacity's retries and backoff, the flush clock, outage reporting.

Failures (fail open): a connection error, a timeout or a 408/429/502/503 is retried by
tenacity for as long as the process lives, or until a flush's deadline; the first
failure of an outage logs ONE warning on the ``skiff`` logger. Any other error status is
final: that request's reports are dropped (counted). Nothing blocks the user.

At most once: logs have no id on the server, so a log request that may have reached the
server (reset, timeout after sending, see :func:`may_have_landed`) is not sent again.

Deadlines: while a flush with a deadline runs, every request's timeout is cut to the
time left, and backoff sleeps end at it. A flush, a hand-off to the spool or a close
that begins during a backoff sleep ends that sleep at once (:meth:`Delivery.wake`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception

from skiff._engine._budget import Latency
from skiff._engine._items import Wait
from skiff._exceptions import APIConnectionError, APIStatusError, APITimeoutError
from skiff.client._retry import parse_retry_after, retry_delay, should_retry

if TYPE_CHECKING:
    import httpx

    from skiff._engine._buffer import Drops
    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

__all__ = ["REFUSED", "SENT", "UNREACHABLE", "Delivery", "may_have_landed", "until"]

logger = logging.getLogger("skiff")

MIN_REQUEST_TIMEOUT = 0.05
FLUSH_BACKOFF_CAP = 1.0  # seconds between retries while a flush is waiting

# What :meth:`Delivery.retrying` answers: landed, not reachable now (keep the reports),
# or refused for good (the reports were dropped and counted).
SENT, UNREACHABLE, REFUSED = "sent", "unreachable", "refused"


def _retryable(error: BaseException) -> bool:
    return isinstance(error, Wait) or should_retry(error)


def may_have_landed(error: BaseException) -> bool:
    """Whether a failed request may still have been processed by the server."""
    if isinstance(error, APIConnectionError):
        return error.maybe_processed
    return isinstance(error, APIStatusError) and error.status_code == 502


def until(deadline: float | None) -> dict[str, Any]:
    """Request keywords that end the request by ``deadline`` (a :func:`time.monotonic` time)."""
    if deadline is None:
        return {}
    left = deadline - time.monotonic()
    if left <= 0:
        raise APITimeoutError("the time for this request was used up before it could start")
    return {"timeout": left}


class Delivery:
    """One reporter's requests, their retries, and the flush state those retries obey.

    ``cond`` is the reporter's lock; it guards ``deadlines``, ``handoff`` and ``wakes``.
    ``deadlines`` holds the deadline of every running flush, ``handoff`` is set while a
    flush hands the buffer to the spool, and ``stop`` once the reporter closes: both end
    retries at once.
    """

    def __init__(
        self, settings: Settings, transport: Transport, cond: threading.Condition, drops: Drops
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.latency = Latency()
        self.sent_requests = 0
        self.outage = False
        self.errors: list[str] = []
        self.deadlines: list[float] = []
        self.handoff = False
        self.stop = threading.Event()
        # Bumped by every flush and hand-off; a backoff sleep ends when it changes.
        self.wakes = 0
        self._attempt_wakes = 0
        self._cond = cond
        self._drops = drops

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request through the transport, its latency recorded."""
        started = time.monotonic()
        try:
            response = self.transport.request(method, path, **kwargs)
        except APIStatusError:
            self.latency.observe(time.monotonic() - started)
            raise
        self.latency.observe(time.monotonic() - started)
        return response

    @property
    def flush_deadline(self) -> float | None:
        """The earliest deadline of the flushes running now (a :func:`time.monotonic` time)."""
        return min(self.deadlines, default=None)

    def wake(self) -> None:
        """End the backoff sleep under way now (called with ``cond`` held)."""
        self.wakes += 1
        self._cond.notify_all()

    def retrying(
        self, send: Callable[[dict[str, Any]], Any], n: int, *, at_most_once: bool = False
    ) -> str:
        """Run ``send(timeout_kwargs)`` (carrying ``n`` reports) with retries.

        Returns :data:`SENT`, :data:`UNREACHABLE` or :data:`REFUSED`.
        """

        def again(error: BaseException) -> bool:
            return _retryable(error) and not (at_most_once and may_have_landed(error))

        retrying = Retrying(
            retry=retry_if_exception(again),
            wait=self._wait,
            stop=lambda _state: self.stop.is_set() or self.handoff,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

        def attempt() -> Any:
            self._attempt_wakes = self.wakes  # a flush from now on cuts the next backoff
            return send(self._timeout())

        try:
            retrying(attempt)
        except Exception as exc:
            if again(exc):
                return UNREACHABLE
            with self._cond:
                if at_most_once and _retryable(exc):
                    self._drops.note(n, f"they may have reached the server already ({exc})")
                else:
                    self._drops.note(n, f"the server refused them ({exc})")
                self.errors.append(str(exc))
            if not isinstance(exc, (APIStatusError, APIConnectionError, Wait)):
                logger.warning("skiff could not send %d report(s): %r", n, exc)
            return REFUSED
        self.sent_requests += 1
        if self.outage:
            self.outage = False
            logger.info("skiff reached the Prefect API again; sending the buffered reports")
        return SENT

    def report_outage(self, error: BaseException) -> None:
        """Note that the server could not be reached; the first time, log the ONE warning."""
        if not self.outage:
            self.outage = True
            logger.warning(
                "skiff's reports to the Prefect API are failing (%s); flows keep running, and "
                "their reports stay buffered and are retried with backoff until flush() or "
                "exit gives up",
                error,
            )
        self.errors.append(str(error))
        del self.errors[:-10]

    def _timeout(self) -> dict[str, Any]:
        deadline = self.flush_deadline
        if deadline is None:
            return {}
        left = deadline - time.monotonic()
        return {"timeout": max(MIN_REQUEST_TIMEOUT, min(self.settings.request_timeout, left))}

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Wait):
            return error.delay
        delay = retry_delay(state.attempt_number, error, patient=False)
        if self.deadlines:
            # A flush is waiting: keep trying often, unless the server asked for longer.
            asked = None
            if isinstance(error, APIStatusError):
                asked = parse_retry_after(error.response.headers.get("retry-after"))
            delay = min(delay, max(FLUSH_BACKOFF_CAP, asked or 0.0))
        return delay

    def _sleep(self, seconds: float) -> None:
        # A flush that began since the last attempt ends the backoff at once, and the
        # deadline of a running flush ends it too.
        end = time.monotonic() + seconds
        with self._cond:
            while self.wakes == self._attempt_wakes and not self.stop.is_set():
                deadline = self.flush_deadline
                stop_at = min(end, deadline) if deadline is not None else end
                left = stop_at - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.25))

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if error is not None and not isinstance(error, Wait):
            self.report_outage(error)
