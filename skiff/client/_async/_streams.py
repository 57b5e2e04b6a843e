"""Live event and log subscriptions over the server's WebSockets, and batched event emitting.

A subscription (made by ``client.events.subscribe`` and ``client.logs.subscribe``, see
``_stream_api``) is iterated with a for loop, preferably inside a with block so the socket
closes when the block ends. A background reader keeps the socket drained, reconnects with
backoff and resumes where it left off; see :mod:`skiff.client._stream_base` for the protocol
and why a REST sweep follows a reconnect.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from skiff._exceptions import ResponseValidationError, SkiffError
from skiff.client import _stream_base as sb
from skiff.client._generated import models
from skiff.client._pumps import AsyncPump

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from skiff.client._async._transport import AsyncTransport

__all__ = ["AsyncEventSubscription", "AsyncLogSubscription", "AsyncSubscription"]

T = TypeVar("T")
S = TypeVar("S", bound="AsyncSubscription[Any]")

_MAX_BACKOFF = 5.0
# A session that drops sooner than this after subscribing counts as a failed attempt, so a
# server that accepts and then drops at once is retried with backoff, not in a hot loop.
_MIN_HEALTHY_SECONDS = 1.0


class AsyncSubscription(Generic[T]):
    """One subscription: a socket kept open by a background reader, and a bounded buffer.

    Counters, for monitoring: ``connections`` (subscriptions made, 1 plus reconnects),
    ``overflows`` (times the consumer fell ``max_buffered`` items behind, so the socket was
    closed and later resumed instead of growing memory), ``duplicates`` (replays dropped
    after a resume), ``swept`` (items only the post-reconnect REST sweep found).
    """

    _path = ""
    _backfill = False

    def __init__(
        self,
        transport: AsyncTransport,
        payload: dict[str, Any],
        *,
        max_buffered: int,
        dedupe_window: int,
        max_reconnect_attempts: int,
        sweep_delay: float,
    ) -> None:
        sb.require_websockets()
        self._transport = transport
        self._url = sb.socket_url(transport.base_url, self._path)
        self._payload = payload
        self._pump: AsyncPump[T] = AsyncPump(max_buffered)
        self._attempts = max_reconnect_attempts + 1
        self._sweep_delay = sweep_delay
        self._window = sb.SeenWindow(dedupe_window)
        # The sync twin offers items from two threads (reader and sweep).
        self._lock = threading.Lock()
        self._ws: ClientConnection | None = None
        self._started = False
        self._first_at = sb.now()
        self._last: _dt.datetime | None = None
        self.connections = 0
        self.overflows = 0
        self.duplicates = 0
        self.swept = 0

    # What a subclass says about its items and its filter.
    def _key(self, item: T) -> uuid.UUID:
        raise NotImplementedError

    def _moment(self, item: T) -> _dt.datetime:
        raise NotImplementedError

    def _item(self, message: sb.Message) -> T | None:
        raise NotImplementedError

    def _filter(self) -> dict[str, Any]:
        return self._payload

    def _missed(self, since: _dt.datetime, until: _dt.datetime) -> AsyncIterator[T]:
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Items received and not yet consumed."""
        return len(self._pump)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._pump.spawn(self._run)

    async def __aenter__(self: S) -> S:
        self._start()
        try:
            await self._pump.wait_ready()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self: S) -> S:
        return self

    async def __anext__(self) -> T:
        self._start()
        return await self._pump.get()

    async def aclose(self) -> None:
        """Close the socket and stop the reader; iteration then ends."""
        self._pump.stop()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        await self._pump.join()

    def _offer(self, item: T) -> bool | None:
        """Deliver ``item`` unless already delivered: True queued, None a replay, False full."""
        key = self._key(item)
        with self._lock:
            if key in self._window:
                self.duplicates += 1
                return None
            if not self._pump.put(item):
                return False
            self._window.add(key)
            moment = self._moment(item)
            if self._last is None or moment > self._last:
                self._last = moment
            return True

    def _should_retry(self, exc: BaseException) -> bool:
        if self._pump.stopped:
            return False
        return sb.is_retryable(sb.socket_error(exc, self._url, self._path))

    async def _run(self) -> None:
        while not self._pump.stopped:
            # A fresh budget per drop: tenacity counts attempts until a session subscribes.
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential_jitter(multiplier=0.1, max=_MAX_BACKOFF, jitter=0.1),
                retry=retry_if_exception(self._should_retry),
                sleep=self._pump.sleep,
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._session()
            except Exception as exc:
                if not self._pump.stopped:
                    self._pump.fail(sb.socket_error(exc, self._url, self._path))
                return

    async def _session(self) -> None:
        """One connection: auth, filter, then read until it drops or the consumer lags."""
        if self._pump.stopped:
            return
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        settings = self._transport.settings
        subscribed_at: float | None = None
        full = False
        try:
            async with connect(
                self._url,
                subprotocols=[Subprotocol("prefect")],
                additional_headers=sb.socket_headers(settings),
                user_agent_header="skiff",
                open_timeout=settings.request_timeout,
                close_timeout=1,
                max_size=sb.MAX_MESSAGE_BYTES,
            ) as ws:
                self._ws = ws
                await ws.send(sb.auth_message(settings))
                reply = self._decode(await ws.recv())
                if reply.type != "auth_success":
                    raise sb.auth_refused(reply.reason, self._url, self._path)
                resume_from = self._last or self._first_at
                await ws.send(sb.filter_message(self._filter(), backfill=self._backfill))
                subscribed_at = time.monotonic()
                self.connections += 1
                self._pump.set_ready()
                if self.connections > 1:
                    # The live stream and backfill can miss what was published while we were
                    # away and not yet persisted; sweep the REST API for it once it is.
                    since = resume_from - sb.RESUME_MARGIN
                    until = sb.now() + sb.SWEEP_AHEAD
                    self._pump.spawn(functools.partial(self._sweep, since, until))
                while not full:
                    item = self._item(self._decode(await ws.recv()))
                    if item is not None and self._offer(item) is False:
                        # The consumer is max_buffered behind: stop reading; the server keeps
                        # the rest, and the resume replays it once the consumer catches up.
                        self.overflows += 1
                        full = True
        except Exception as exc:
            error = sb.socket_error(exc, self._url, self._path)
            healthy = (
                subscribed_at is not None
                and time.monotonic() - subscribed_at >= _MIN_HEALTHY_SECONDS
            )
            if self._pump.stopped or (healthy and sb.is_retryable(error)):
                return  # a drop after a good session: reconnect at once with a fresh budget
            if error is exc:
                raise
            raise error from exc
        finally:
            self._ws = None
        if full:
            await self._pump.wait_room()

    def _decode(self, raw: str | bytes) -> sb.Message:
        try:
            return sb.MESSAGE_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ResponseValidationError(
                f"{self._path}: a socket message does not decode ({exc}): {str(raw)[:200]!r}"
            ) from None

    async def _sweep(self, since: _dt.datetime, until: _dt.datetime) -> None:
        await self._pump.sleep(self._sweep_delay)
        try:
            async for item in self._missed(since, until):
                await self._pump.wait_room()
                if self._pump.stopped:
                    return
                if self._offer(item):
                    self.swept += 1
        except SkiffError:
            # Best effort: the live stream goes on; the next reconnect sweeps again.
            return


class AsyncEventSubscription(AsyncSubscription[sb.StreamEvent]):
    """Events matching a filter, as :class:`~skiff.client.StreamEvent` (live, in arrival order).

    On the first connection the server replays the filter's ``occurred.since`` onwards, or,
    without one, the last :data:`~skiff.client._stream_base.RESUME_MARGIN` (covering clock
    skew between emitters and this process). Items a REST sweep recovers after a reconnect
    arrive later than their neighbours.
    """

    _path = sb.EVENTS_OUT
    _backfill = True

    def _key(self, item: sb.StreamEvent) -> uuid.UUID:
        return item.id

    def _moment(self, item: sb.StreamEvent) -> _dt.datetime:
        return item.occurred

    def _item(self, message: sb.Message) -> sb.StreamEvent | None:
        return message.event if message.type == "event" else None

    def _filter(self) -> dict[str, Any]:
        return sb.events_filter(self._payload, self._last, self._first_at - sb.RESUME_MARGIN)

    async def _missed(
        self, since: _dt.datetime, until: _dt.datetime
    ) -> AsyncIterator[sb.StreamEvent]:
        query = sb.window_filter(self._payload, "occurred", ("since", "until"), since, until)
        response = await self._transport.request(
            "POST", "/events/filter", json={"filter": query, "limit": 50}
        )
        page = sb.EVENT_PAGE_DECODER.decode(response.content)
        while True:
            for event in page.events:
                yield event
            token = sb.page_token(page.next_page)
            if not token or not page.events:
                return
            response = await self._transport.request(
                "GET", "/events/filter/next", params={"page-token": token}
            )
            page = sb.EVENT_PAGE_DECODER.decode(response.content)


class AsyncLogSubscription(AsyncSubscription[models.Log]):
    """Log lines matching a filter, live (the server has no log backfill).

    After a reconnect the lines written while disconnected are fetched from
    ``POST /logs/filter`` (logs are stored before they are streamed) and delivered late.
    """

    _path = sb.LOGS_OUT

    def _key(self, item: models.Log) -> uuid.UUID:
        return item.id

    def _moment(self, item: models.Log) -> _dt.datetime:
        return item.timestamp

    def _item(self, message: sb.Message) -> models.Log | None:
        return message.log if message.type == "log" else None

    async def _missed(self, since: _dt.datetime, until: _dt.datetime) -> AsyncIterator[models.Log]:
        query = sb.window_filter(self._payload, "timestamp", ("after_", "before_"), since, until)
        offset = 0
        while True:
            body = {"logs": query, "sort": "TIMESTAMP_ASC", "limit": 200, "offset": offset}
            response = await self._transport.request("POST", "/logs/filter", json=body)
            logs = sb.LOGS_DECODER.decode(response.content)
            for log in logs:
                yield log
            if len(logs) < 200:
                return
            offset += len(logs)
