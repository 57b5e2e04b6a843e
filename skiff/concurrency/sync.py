"""Global concurrency limits and rate limits for sync code (Prefect's ``prefect.concurrency.sync``).

``concurrency(names)`` holds slots of server-side limits while its block runs; ``rate_limit
(names)`` takes slots from limits with a slot decay and returns. The limits must exist on
the server (``client.concurrency_limits_v2.create``, the UI, or ``prefect gcl create``);
a missing one is skipped with a warning, or raises with ``strict=True``. The mechanism is
shared with :mod:`skiff.concurrency.asyncio` and described in ``skiff.concurrency._core``.

Example::

    from skiff.concurrency.sync import concurrency, rate_limit

    with concurrency("database", occupy=1, timeout_seconds=30):
        write_rows()
    rate_limit("external-api")
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from skiff._exceptions import APIError
from skiff.concurrency import _core, _lanes, _leases, _wire
from skiff.concurrency._core import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencyArgumentError,
    ConcurrencySlotAcquisitionError,
)
from skiff.concurrency._leases import ConcurrencyContext

if TYPE_CHECKING:
    import httpx

    from skiff.client._sync._transport import Transport
    from skiff.concurrency.asyncio import ConcurrencyLeaseLostError

__all__ = [
    "AcquireConcurrencySlotTimeoutError",
    "ConcurrencyArgumentError",
    "ConcurrencyContext",
    "ConcurrencyLeaseLostError",
    "ConcurrencySlotAcquisitionError",
    "concurrency",
    "hold",
    "maintain_concurrency_lease",
    "rate_limit",
]


def __getattr__(name: str) -> Any:
    # The error is an asyncio.CancelledError; importing asyncio only when it is asked for
    # keeps it out of sync programs' cold start.
    if name == "ConcurrencyLeaseLostError":
        from skiff.concurrency.asyncio import ConcurrencyLeaseLostError

        return ConcurrencyLeaseLostError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _wait_for_turn(lane: _lanes.Lane, plan: _core.Plan) -> None:
    woken = threading.Event()

    def wake() -> bool:
        woken.set()
        return True

    turn = _lanes.Turn(wake)
    if lane.join(turn):
        return
    try:
        left = None if plan.deadline is None else max(0.0, plan.deadline - time.monotonic())
        if woken.wait(left):
            return
    except BaseException:
        if not lane.withdraw(turn):
            lane.leave()
        raise
    if lane.withdraw(turn):
        raise _core.timed_out(plan)


def _perform(
    steps: Generator[_core.Send | _core.Sleep, httpx.Response | None, _core.Granted],
    transport: Transport,
) -> _core.Granted:
    try:
        step = next(steps)
        while True:
            if isinstance(step, _core.Sleep):
                time.sleep(step.seconds)
                step = steps.send(None)
                continue
            try:
                response = transport.request("POST", step.path, json=step.body, **step.options)
            except APIError as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(response)
    except StopIteration as stop:
        granted: _core.Granted = stop.value
        return granted


def _acquire(plan: _core.Plan, wire: _wire.Link) -> _core.Granted:
    lane = _lanes.lane_for(plan)
    _wait_for_turn(lane, plan)
    try:
        return _perform(_core.acquisition(plan), wire.transport)
    finally:
        lane.leave()


@contextmanager
def maintain_concurrency_lease(
    lease_id: uuid.UUID | str,
    lease_duration: float,
    raise_on_lease_renewal_failure: bool = False,
    suppress_warnings: bool = False,
    *,
    transport: Transport | None = None,
) -> Iterator[None]:
    """Renew a lease from a background thread while the block runs (Prefect's function).

    If renewal fails 3 times, the block is stopped with :class:`ConcurrencyLeaseLostError`
    when ``raise_on_lease_renewal_failure``, else a warning (DEBUG with
    ``suppress_warnings``) is logged and the block runs on. The engine uses this for a
    deployment's concurrency lease.
    """
    interrupt = _leases.ThreadInterrupt()
    keeper = _leases.LeaseKeeper(
        transport or _wire.link().transport,
        uuid.UUID(str(lease_id)),
        lease_duration,
        raise_on_failure=raise_on_lease_renewal_failure,
        quiet=suppress_warnings,
        on_lost=interrupt,
    )
    try:
        yield
    finally:
        interrupt.disarm()
        keeper.stop(join=True)


@contextmanager
def hold(
    names: str | list[str],
    occupy: int = 1,
    *,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: Any = None,
    raise_on_lease_renewal_failure: bool | None = None,
    suppress_warnings: bool = False,
) -> Iterator[None]:
    """:func:`concurrency` with ``suppress_warnings`` (missing limits logged at DEBUG).

    The task engine holds a task run's tag limits with it::

        hold([f"tag:{t}" for t in tags], holder={"type": "task_run", "id": task_run_id},
             lease_duration=60, suppress_warnings=True)
    """
    plan = _core.plan(
        names,
        occupy,
        "concurrency",
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        lease_duration=lease_duration,
        holder=holder,
        strict=strict,
    )
    if plan is None:
        yield
        return
    wire = _wire.link()
    granted = _acquire(plan, wire)
    _core.check_granted(plan, granted, fallback=True, quiet=suppress_warnings)
    if not granted.limits or granted.lease_id is None:
        yield
        return
    lease_id = granted.lease_id
    leases = _leases.record(wire.transport, lease_id)
    emitted = _wire.emit(wire, "acquired", granted.limits, plan.occupy)
    try:
        with maintain_concurrency_lease(
            lease_id,
            lease_duration,
            strict if raise_on_lease_renewal_failure is None else raise_on_lease_renewal_failure,
            suppress_warnings,
            transport=wire.transport,
        ):
            yield
    finally:
        _leases.release(wire.transport, lease_id)
        _leases.discard(leases, lease_id)
        _wire.emit(wire, "released", granted.limits, plan.occupy, emitted)


@contextmanager
def concurrency(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: Any = None,
    raise_on_lease_renewal_failure: bool | None = None,
) -> Iterator[None]:
    """Hold ``occupy`` slots of each limit in ``names`` while the block runs.

    Waits while the limits are full (the server's ``Retry-After``), at most
    ``timeout_seconds`` (then :class:`AcquireConcurrencySlotTimeoutError`, a
    ``TimeoutError``) and at most ``max_retries`` retries (then
    :class:`ConcurrencySlotAcquisitionError`). The slots are held under a lease of
    ``lease_duration`` seconds (60 to 86400), renewed in the background, and released
    when the block ends, also when it raises. ``holder`` (a dict or object with ``type``,
    one of ``flow_run``/``task_run``/``deployment``, and ``id``) is recorded on the lease.

    A limit that does not exist is skipped with a warning, or raises
    :class:`ConcurrencySlotAcquisitionError` with ``strict=True``. When renewal fails
    for good, the block is stopped with :class:`ConcurrencyLeaseLostError` if
    ``raise_on_lease_renewal_failure`` (default: ``strict``), else a warning is logged.
    Empty ``names`` acquire nothing. Wrong arguments raise
    :class:`ConcurrencyArgumentError` before anything is sent.
    """
    with hold(
        names,
        occupy,
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        lease_duration=lease_duration,
        strict=strict,
        holder=holder,
        raise_on_lease_renewal_failure=raise_on_lease_renewal_failure,
    ):
        yield


def rate_limit(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Wait until ``occupy`` slots of each limit in ``names`` are taken; they decay by themselves.

    Every limit must have a ``slot_decay_per_second`` (else the server refuses:
    :class:`ConcurrencySlotAcquisitionError`). Waits at most ``timeout_seconds`` (then
    :class:`AcquireConcurrencySlotTimeoutError`). A missing limit is skipped (with a
    warning on the run logger inside a run), or raises with ``strict=True``.
    """
    plan = _core.plan(names, occupy, "rate_limit", timeout_seconds=timeout_seconds, strict=strict)
    if plan is None:
        return
    wire = _wire.link()
    granted = _acquire(plan, wire)
    _core.check_granted(plan, granted, fallback=False)
    _wire.emit(wire, "acquired", granted.limits, plan.occupy)
