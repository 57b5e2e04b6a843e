"""Artifact delivery: creates and updates, in a flow run through the run's reporter.

Requests outside a run are driven by :mod:`skiff._engine._dispatch`; the events that follow
each create and update are built in :mod:`skiff._engine._artifact_events`.

**Artifacts inside a flow run** go through the run's reporter, so an outage never stops the
flow and nothing is lost:

* the run's id is known, the reporter is not in an outage and no earlier artifact report is
  still buffered: ``POST /artifacts/`` at once (no retry, at most :data:`INLINE_TIMEOUT`), and
  the function returns the server's id, as Prefect's does;
* otherwise, or when that request fails with a retryable error: the create is buffered (a
  ``KEEP`` report, never dropped, retried until it lands, ahead of the run's final state) and
  the function returns a :class:`PendingArtifact`. Its ``id`` is filled in when the create
  lands. ``update_progress_artifact`` on a pending artifact changes the buffered create in
  place (the server gets one create with the latest progress); an update that arrives while
  the create is on the wire is sent as a ``PATCH`` once the id is known.

Once an artifact report is buffered, the next ones are buffered too until it lands, so the
server gets them in call order (the latest artifact of a key stays the latest). A buffered
create whose answer was lost on the wire is sent again (at least once, no idempotency key
exists for artifacts), so an outage at the wrong moment can record an artifact twice. A
create the spool took (an adapter's freeze, the exit hook) is replayed by a later process;
updates made after that are not. Outside a flow run nothing is buffered: a client sends the
request and errors raise, as Prefect's do.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
import weakref
from typing import TYPE_CHECKING, Any, cast

from skiff._engine._artifact_events import Origin, created_payload, emit, event_reporter, now
from skiff._engine._dispatch import Steps, arun, run
from skiff._engine._items import CONTROL_SIZE, KEEP, DeadRun, Item, run_id
from skiff._exceptions import APIError
from skiff.client._base import decode
from skiff.client._retry import should_retry

if TYPE_CHECKING:
    import httpx

    from skiff._engine._reporter import Reporter
    from skiff.client import AsyncClient, Client

__all__ = [
    "INLINE_TIMEOUT",
    "PendingArtifact",
    "acreate_artifact",
    "aupdate_artifact",
    "create_artifact",
    "update_artifact",
]

# An artifact call inside a flow waits at most this long for the server before buffering.
INLINE_TIMEOUT = 5.0

OUTSIDE_RUN_WARNING = (
    "Artifact creation outside of a flow or task run is deprecated and will be removed in "
    "a later version."
)


# ---------------------------------------------------------------------- ordering
# Artifact reports each reporter still holds: while any is buffered, new ones queue behind.
_backlog: weakref.WeakKeyDictionary[Reporter, int] = weakref.WeakKeyDictionary()
_backlog_lock = threading.Lock()


def _hold(reporter: Reporter, delta: int) -> None:
    with _backlog_lock:
        _backlog[reporter] = max(0, _backlog.get(reporter, 0) + delta)


def _can_send_now(reporter: Reporter) -> bool:
    with _backlog_lock:
        if _backlog.get(reporter, 0) and not reporter.pending():
            # The reporter holds nothing: what was counted was spooled or refused.
            _backlog[reporter] = 0
        return not reporter.in_outage and not _backlog.get(reporter, 0)


def _buffer(reporter: Reporter, item: Item) -> None:
    with _backlog_lock:  # counted and queued at once, so no send slips in between
        _backlog[reporter] = _backlog.get(reporter, 0) + 1
        reporter.put(item)
    reporter.kick()


def _size(body: dict[str, Any]) -> int:
    data = body.get("data")
    return CONTROL_SIZE + (len(data) if isinstance(data, str) else 0)


def _timeout(reporter: Reporter) -> float:
    return min(reporter.settings.request_timeout, INLINE_TIMEOUT)


# ---------------------------------------------------------------------- pending artifacts
class PendingArtifact:
    """An artifact whose create is still buffered: what a create returns during an outage.

    ``id`` is None until the create lands, then the server's id (``wait()`` blocks for it).
    Pass it to ``update_progress_artifact`` like an id: the update is folded into the buffered
    create, or sent once the id is known. With reporting off (``SKIFF_REPORTING=false``) it
    never resolves and updates do nothing.
    """

    __slots__ = (
        "_built",
        "_created",
        "_fields",
        "_id",
        "_landed",
        "_lock",
        "_origin",
        "_payload",
        "_reporter",
        "_updates",
        "_version",
    )

    def __init__(
        self,
        fields: dict[str, Any],
        reporter: Reporter | None,
        origin: Origin,
        payload: dict[str, Any],
    ) -> None:
        self._fields = fields
        self._reporter = reporter
        self._origin = origin
        self._payload = payload
        self._id: uuid.UUID | None = None
        self._lock = threading.Lock()
        self._landed = threading.Event()
        self._version = 0
        self._built = -1
        self._updates: list[tuple[str, dict[str, Any]]] = []  # folded in: (when, body)
        self._created = now()  # events carry the time of the call, as Prefect's do

    @property
    def id(self) -> uuid.UUID | None:
        """The server's id, once the create has landed."""
        return self._id

    @property
    def key(self) -> str | None:
        """The artifact's key."""
        return cast("str | None", self._fields.get("key"))

    def wait(self, timeout: float | None = None) -> uuid.UUID | None:
        """Block until the create lands (or ``timeout`` seconds pass); the id, or None."""
        self._landed.wait(timeout)
        return self._id

    def __repr__(self) -> str:
        return f"PendingArtifact(id={self._id}, key={self.key!r}, type={self._fields['type']!r})"

    def __str__(self) -> str:
        return str(self._id) if self._id is not None else repr(self)

    # The reporter's side (its thread).
    def _build(self) -> tuple[str, str, dict[str, Any]]:
        assert self._origin.flow is not None
        try:
            flow_run_id = run_id(self._origin.flow.run)  # Unresolved until the run exists
        except DeadRun:
            _hold(cast("Reporter", self._reporter), -1)
            raise
        with self._lock:
            self._built = self._version
            return "POST", "/artifacts/", {**self._fields, "flow_run_id": flow_run_id}

    def _on_response(self, response: httpx.Response) -> None:
        reporter = cast("Reporter", self._reporter)
        artifact_id = uuid.UUID(str(decode(response, Any)["id"]))
        with self._lock:
            self._id = artifact_id
            stale = self._version > self._built
            latest = {k: v for k, v in self._fields.items() if k in ("data", "description")}
            updates = list(self._updates)
        self._landed.set()
        _hold(reporter, -1)
        origin, payload = self._origin, self._payload
        emit(reporter, origin, "created", artifact_id, payload, self.key, self._created)
        for occurred, body in updates:  # the events of updates folded into the create
            emit(reporter, origin, "updated", artifact_id, body, occurred=occurred)
        if stale:  # an update came while the create was on the wire
            _patch(reporter, origin, artifact_id, latest, inline=False, event=False)

    def _absorb(self, body: dict[str, Any]) -> bool:
        """Fold an update into the create while it is unsent; False once the id is known."""
        with self._lock:
            if self._id is not None:
                return False
            self._fields.update(body)
            self._version += 1
            self._updates.append((now(), body))
            return True


# ---------------------------------------------------------------------- create / update
def create_artifact(
    fields: dict[str, Any], client: Client | None = None, *, stacklevel: int = 1
) -> uuid.UUID | PendingArtifact:
    """Create an artifact from ``fields`` (type, key, description, data) for the current run.

    Outside any run it warns as Prefect does (``stacklevel`` counts from the caller) and
    uses ``client``, or a new one.
    """
    origin, fields = _begin(fields, stacklevel + 1)
    if origin.flow is not None:
        return _create_in_run(origin, fields, drop_none=False)
    return _created(origin, fields, run(_create_steps(fields), client), drop_none=False)


async def acreate_artifact(
    fields: dict[str, Any], client: AsyncClient | None = None, *, stacklevel: int = 1
) -> uuid.UUID | PendingArtifact:
    """The async twin of :func:`create_artifact` (the reporter's work runs in a thread)."""
    origin, fields = _begin(fields, stacklevel + 1)
    if origin.flow is not None:
        return await asyncio.to_thread(_create_in_run, origin, fields, drop_none=True)
    return _created(origin, fields, await arun(_create_steps(fields), client), drop_none=True)


def _begin(fields: dict[str, Any], stacklevel: int) -> tuple[Origin, dict[str, Any]]:
    origin = Origin()
    if origin.outside:
        warnings.warn(OUTSIDE_RUN_WARNING, FutureWarning, stacklevel=stacklevel + 1)
    task = origin.task
    return origin, {**fields, "task_run_id": str(task.task_run.id) if task is not None else None}


def _created(
    origin: Origin, fields: dict[str, Any], artifact_id: uuid.UUID, *, drop_none: bool
) -> uuid.UUID:
    payload = created_payload(fields, drop_none)
    emit(event_reporter(origin), origin, "created", artifact_id, payload, fields["key"])
    return artifact_id


def _create_steps(fields: dict[str, Any]) -> Steps[uuid.UUID]:
    body = {**fields, "flow_run_id": None}
    reply = yield lambda client: client.request("POST", "/artifacts/", json=body)
    return uuid.UUID(str(decode(reply, Any)["id"]))


def _create_in_run(
    origin: Origin, fields: dict[str, Any], *, drop_none: bool
) -> uuid.UUID | PendingArtifact:
    assert origin.flow is not None
    reporter = origin.flow.reporter
    payload = created_payload(fields, drop_none)
    if reporter is None:  # reporting off: nothing goes to a server
        return PendingArtifact(fields, None, origin, payload)
    run_ref = origin.flow.run
    if run_ref.id is not None and _can_send_now(reporter):
        try:
            reply = reporter.request(
                "POST",
                "/artifacts/",
                json={**fields, "flow_run_id": str(run_ref.id)},
                retry=False,
                timeout=_timeout(reporter),
            )
        except APIError as exc:
            if not should_retry(exc):
                raise
            reporter.report_outage(exc)
        else:
            artifact_id = uuid.UUID(str(decode(reply, Any)["id"]))
            emit(reporter, origin, "created", artifact_id, payload, fields["key"])
            return artifact_id
    pending = PendingArtifact(fields, reporter, origin, payload)
    _buffer(
        reporter,
        Item("request", KEEP, pending._build, _size(fields), on_response=pending._on_response),
    )
    return pending


def update_artifact(
    target: uuid.UUID | PendingArtifact, body: dict[str, Any], client: Client | None = None
) -> None:
    """``PATCH /artifacts/{id}`` with ``body`` (data, and description when given)."""
    route = _route(target, body, client)
    if route is None:
        return
    artifact_id, origin, reporter = route
    if reporter is not None:
        _patch(reporter, origin, artifact_id, body)
        return
    run(_update_steps(artifact_id, body), client)
    emit(event_reporter(origin), origin, "updated", artifact_id, body)


async def aupdate_artifact(
    target: uuid.UUID | PendingArtifact, body: dict[str, Any], client: AsyncClient | None = None
) -> None:
    """The async twin of :func:`update_artifact`."""
    route = _route(target, body, client)
    if route is None:
        return
    artifact_id, origin, reporter = route
    if reporter is not None:
        await asyncio.to_thread(_patch, reporter, origin, artifact_id, body)
        return
    await arun(_update_steps(artifact_id, body), client)
    emit(event_reporter(origin), origin, "updated", artifact_id, body)


def _route(
    target: uuid.UUID | PendingArtifact, body: dict[str, Any], client: object
) -> tuple[uuid.UUID, Origin, Reporter | None] | None:
    """None when the update went into a buffered create; else the id, the call's origin, and
    the run's reporter to send it with (None: send it with a client)."""
    if isinstance(target, PendingArtifact):
        if target._absorb(body):
            return None
        assert target.id is not None
        target = target.id
    origin = Origin()
    reporter = origin.flow.reporter if origin.flow is not None and client is None else None
    return target, origin, reporter


def _update_steps(artifact_id: uuid.UUID, body: dict[str, Any]) -> Steps[None]:
    yield lambda client: client.request("PATCH", f"/artifacts/{artifact_id}", json=body)


def _patch(
    reporter: Reporter,
    origin: Origin,
    artifact_id: uuid.UUID,
    body: dict[str, Any],
    *,
    inline: bool = True,
    event: bool = True,
) -> None:
    """Send an update at once if nothing is buffered before it, else buffer it."""
    path = f"/artifacts/{artifact_id}"
    if inline and _can_send_now(reporter):
        try:
            reporter.request("PATCH", path, json=body, retry=False, timeout=_timeout(reporter))
        except APIError as exc:
            if not should_retry(exc):
                raise
            reporter.report_outage(exc)
        else:
            emit(reporter, origin, "updated", artifact_id, body)
            return
    occurred = now()

    def landed(_response: httpx.Response) -> None:
        _hold(reporter, -1)
        if event:
            emit(reporter, origin, "updated", artifact_id, body, occurred=occurred)

    _buffer(
        reporter,
        Item("request", KEEP, lambda: ("PATCH", path, body), _size(body), on_response=landed),
    )
