"""Global concurrency limits and rate limits for async code (Prefect's ``prefect.concurrency.asyncio``).

The same calls as :mod:`skiff.concurrency.sync`, awaitable: the steps are the shared ones
of ``skiff.concurrency._core``, slept with ``asyncio.sleep``; each request runs in a small
worker pool, so the event loop never blocks on the network and a request in flight when
the caller is cancelled still completes (a lease it granted is then released at once).

Example::

    from skiff.concurrency.asyncio import concurrency, rate_limit

    async with concurrency("database", occupy=1, timeout_seconds=30):
        await write_rows()
    await rate_limit("external-api")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from skiff._exceptions import APIError
from skiff.concurrency import _core, _lanes, _leases, _wire
from skiff.concurrency._core import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencyArgumentError,
    ConcurrencySlotAcquisitionError,
)
from skiff.concurrency._leases import ConcurrencyContext

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from skiff.client._sync._transport import Transport

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

T = TypeVar("T")
WORKERS = 8  # threads for slot requests, shared by every event loop in the process


class ConcurrencyLeaseLostError(asyncio.CancelledError):
    """The lease could not be renewed, so the body was stopped (``raise_on_lease_renewal_failure``).

    Like Prefect's ``CancelledError``, this is not an ``Exception``: an ``except
    Exception`` in the body must not swallow it and run on without reserved slots.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the concurrency lease could not be renewed, so its slots are no longer "
            "reserved and the block was stopped; pass raise_on_lease_renewal_failure=False "
            "to let it run on instead"
        )


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _submit(fn: Callable[..., T], *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(WORKERS, "skiff-concurrency")
    return _pool.submit(fn, *args, **kwargs)


def _release_if_granted(transport: Transport, work: concurrent.futures.Future[Any]) -> None:
    """Done-callback of a request whose caller was cancelled: release what it was granted."""
    if work.cancelled() or work.exception() is not None:
        return
    lease_id = _core.granted_lease(work.result())
    if lease_id is None:
        return

    def release() -> None:
        try:
            _leases.release(transport, lease_id)
        except Exception:
            _core.logger.warning(
                "Failed to release concurrency lease %s after the acquiring caller was "
                "cancelled; its slots stay occupied until the lease expires",
                lease_id,
                exc_info=True,
            )

    _submit(release)  # not inline: this callback may run on the event loop


async def _wait_for_turn(lane: _lanes.Lane, plan: _core.Plan) -> None:
    loop = asyncio.get_running_loop()
    due: asyncio.Future[None] = loop.create_future()

    def resolve() -> None:
        if not due.done():
            due.set_result(None)

    def wake() -> bool:
        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # that loop is closed: pass the turn on
            return False
        return True

    turn = _lanes.Turn(wake)
    if lane.join(turn):
        return
    left = None if plan.deadline is None else max(0.0, plan.deadline - time.monotonic())
    try:
        await asyncio.wait_for(due, left)
    except asyncio.TimeoutError:
        if lane.withdraw(turn):
            raise _core.timed_out(plan) from None
    except BaseException:
        if not lane.withdraw(turn):
            lane.leave()
        raise


async def _perform(
    steps: Generator[_core.Send | _core.Sleep, httpx.Response | None, _core.Granted],
    transport: Transport,
) -> _core.Granted:
    try:
        step = next(steps)
        while True:
            if isinstance(step, _core.Sleep):
                await asyncio.sleep(step.seconds)
                step = steps.send(None)
                continue
            work = _submit(transport.request, "POST", step.path, json=step.body, **step.options)
            try:
                response = await asyncio.wrap_future(work)
            except APIError as exc:
                step = steps.throw(exc)
                continue
            except asyncio.CancelledError:
                work.add_done_callback(functools.partial(_release_if_granted, transport))
                raise
            step = steps.send(response)
    except StopIteration as stop:
        granted: _core.Granted = stop.value
        return granted


async def _acquire(plan: _core.Plan, wire: _wire.Link) -> _core.Granted:
    lane = _lanes.lane_for(plan)
    await _wait_for_turn(lane, plan)
    try:
        return await _perform(_core.acquisition(plan), wire.transport)
    finally:
        lane.leave()


@asynccontextmanager
async def maintain_concurrency_lease(
    lease_id: uuid.UUID | str,
    lease_duration: float,
    raise_on_lease_renewal_failure: bool = False,
    suppress_warnings: bool = False,
    *,
    transport: Transport | None = None,
) -> AsyncIterator[None]:
    """Renew a lease from a background thread while the block runs (Prefect's function).

    If renewal fails 3 times, the block's task is cancelled and
    :class:`ConcurrencyLeaseLostError` raised when ``raise_on_lease_renewal_failure``,
    else a warning (DEBUG with ``suppress_warnings``) is logged and the block runs on.
    """
    interrupt = _leases.TaskInterrupt()
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
    except asyncio.CancelledError as exc:
        if interrupt.fired:
            raise ConcurrencyLeaseLostError() from exc
        raise
    finally:
        interrupt.disarm()
        keeper.stop(join=False)  # joining would block the loop; the thread ends by itself
    if interrupt.fired:  # the body swallowed the cancellation: stop it anyway
        raise ConcurrencyLeaseLostError()


async def _release(wire: _wire.Link, lease_id: uuid.UUID, leases: Any) -> None:
    work = _submit(_leases.release, wire.transport, lease_id)
    try:
        # Shielded: a cancelled caller's release still goes out, from its thread.
        await asyncio.shield(asyncio.wrap_future(work))
    except asyncio.CancelledError:
        work.add_done_callback(
            lambda done: (
                _leases.discard(leases, lease_id)
                if not done.cancelled() and done.exception() is None
                else None
            )
        )
        raise
    _leases.discard(leases, lease_id)


@asynccontextmanager
async def hold(
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
) -> AsyncIterator[None]:
    """:func:`concurrency` with ``suppress_warnings`` (missing limits logged at DEBUG), for the engine."""
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
    granted = await _acquire(plan, wire)
    _core.check_granted(plan, granted, fallback=True, quiet=suppress_warnings)
    if not granted.limits or granted.lease_id is None:
        yield
        return
    lease_id = granted.lease_id
    leases = _leases.record(wire.transport, lease_id)
    emitted = _wire.emit(wire, "acquired", granted.limits, plan.occupy)
    try:
        async with maintain_concurrency_lease(
            lease_id,
            lease_duration,
            strict if raise_on_lease_renewal_failure is None else raise_on_lease_renewal_failure,
            suppress_warnings,
            transport=wire.transport,
        ):
            yield
    finally:
        await _release(wire, lease_id, leases)
        _wire.emit(wire, "released", granted.limits, plan.occupy, emitted)


@asynccontextmanager
async def concurrency(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: Any = None,
    raise_on_lease_renewal_failure: bool | None = None,
) -> AsyncIterator[None]:
    """Hold ``occupy`` slots of each limit in ``names`` while the ``async with`` block runs.

    The same arguments, waits, errors and lease as :func:`skiff.concurrency.sync.concurrency`;
    on a lease lost for good with ``raise_on_lease_renewal_failure``, the block's task is
    cancelled and :class:`ConcurrencyLeaseLostError` raised.
    """
    async with hold(
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


async def rate_limit(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Wait until ``occupy`` slots of each limit in ``names`` are taken; they decay by themselves.

    The same as :func:`skiff.concurrency.sync.rate_limit`, awaitable.
    """
    plan = _core.plan(names, occupy, "rate_limit", timeout_seconds=timeout_seconds, strict=strict)
    if plan is None:
        return
    wire = _wire.link()
    granted = await _acquire(plan, wire)
    _core.check_granted(plan, granted, fallback=False)
    _wire.emit(wire, "acquired", granted.limits, plan.occupy)
