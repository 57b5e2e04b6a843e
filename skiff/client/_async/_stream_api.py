"""The stream methods of ``client.events`` and ``client.logs``, as mixins of the generated resources.

``client.events.subscribe(filter=...)`` and ``client.logs.subscribe(filter=...)`` return a
subscription (:mod:`._streams`); ``client.events.emit([...])`` and
``client.events.emit_event(name, resource)`` send events through ``POST /events`` in batches.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from skiff.client import _stream_base as sb
from skiff.client._async._resource import AsyncAPIResource
from skiff.client._async._streams import AsyncEventSubscription, AsyncLogSubscription
from skiff.client._generated import models
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncEventStreams", "AsyncLogStreams"]

_EMIT_BATCH = 200


class AsyncEventStreams(AsyncAPIResource):
    """``client.events.subscribe``, ``client.events.emit`` and ``client.events.emit_event``."""

    def subscribe(
        self,
        *,
        filter: models.EventFilter | Mapping[str, Any] | None = None,
        max_buffered: int = sb.DEFAULT_MAX_BUFFERED,
        dedupe_window: int = sb.DEFAULT_DEDUPE_WINDOW,
        max_reconnect_attempts: int = 10,
        sweep_delay: float = sb.DEFAULT_SWEEP_DELAY,
    ) -> AsyncEventSubscription:
        """Subscribe to events matching ``filter`` (an EventFilter or a dict of its shape).

        The socket opens on ``async with`` (which waits until subscribed, raising a typed
        error if that fails) or on the first ``async for``. Drops are reconnected with
        backoff (``max_reconnect_attempts`` in a row) and resumed from the last event seen:
        the server replays from there, replays are dropped by id (the last
        ``dedupe_window`` ids), and ``sweep_delay`` seconds later a REST query fetches what
        neither the replay nor the live stream had. A consumer ``max_buffered`` events
        behind makes the reader close the socket (memory stays bounded) and resume once the
        consumer has drained half the buffer. Needs ``pip install 'skiff[stream]'``.
        """
        payload = sb.filter_payload("events.subscribe", filter, models.EventFilter, "EventFilter")
        return AsyncEventSubscription(
            self._transport,
            payload,
            max_buffered=max_buffered,
            dedupe_window=dedupe_window,
            max_reconnect_attempts=max_reconnect_attempts,
            sweep_delay=sweep_delay,
        )

    async def emit(
        self,
        events: Sequence[sb.StreamEvent | Mapping[str, Any]],
        *,
        batch_size: int = _EMIT_BATCH,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> list[sb.StreamEvent]:
        """Send events through ``POST /events``, ``batch_size`` per request; return them as sent.

        Dicts get an ``id`` and an ``occurred`` time when they lack one. Each event needs
        ``event`` and a ``resource`` with a ``prefect.resource.id`` label.
        """
        ready = [sb.event_to_send("events.emit", i, e) for i, e in enumerate(events)]
        for start in range(0, len(ready), max(1, batch_size)):
            batch = ready[start : start + max(1, batch_size)]
            await self._request("POST", "/events", json=batch, timeout=timeout)
        return ready

    async def emit_event(
        self,
        event: str,
        resource: Mapping[str, str],
        *,
        occurred: _dt.datetime | None = None,
        related: Sequence[Mapping[str, str]] | None = None,
        payload: Mapping[str, Any] | None = None,
        id: uuid.UUID | None = None,
        follows: uuid.UUID | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> sb.StreamEvent:
        """Send one event, like ``prefect.events.emit_event``, and return it as sent."""
        raw: dict[str, Any] = {"event": event, "resource": dict(resource)}
        if occurred is not None:
            raw["occurred"] = occurred
        if related:
            raw["related"] = [dict(r) for r in related]
        if payload:
            raw["payload"] = dict(payload)
        if id is not None:
            raw["id"] = id
        if follows is not None:
            raw["follows"] = follows
        (sent,) = await self.emit([raw], timeout=timeout)
        return sent


class AsyncLogStreams(AsyncAPIResource):
    """``client.logs.subscribe``."""

    def subscribe(
        self,
        *,
        filter: models.LogFilter | Mapping[str, Any] | None = None,
        max_buffered: int = sb.DEFAULT_MAX_BUFFERED,
        dedupe_window: int = sb.DEFAULT_DEDUPE_WINDOW,
        max_reconnect_attempts: int = 10,
        sweep_delay: float = 1.0,
    ) -> AsyncLogSubscription:
        """Subscribe to log lines matching ``filter`` (a LogFilter or a dict of its shape).

        Works like ``events.subscribe``, except that the server streams only live lines:
        after a reconnect, the lines written meanwhile are fetched from ``POST /logs/filter``
        ``sweep_delay`` seconds later. Needs ``pip install 'skiff[stream]'``.
        """
        payload = sb.filter_payload("logs.subscribe", filter, models.LogFilter, "LogFilter")
        return AsyncLogSubscription(
            self._transport,
            payload,
            max_buffered=max_buffered,
            dedupe_window=dedupe_window,
            max_reconnect_attempts=max_reconnect_attempts,
            sweep_delay=sweep_delay,
        )
