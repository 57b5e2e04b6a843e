"""The one mechanism behind ``skiff.concurrency.sync`` and ``skiff.concurrency.asyncio``.

Both drivers run the same steps, the ones Prefect 3.9.1's client takes:

1. :func:`plan` checks the arguments (nothing is sent when they are wrong: a
   :class:`ConcurrencyArgumentError` names the fix) and returns ``None`` for empty
   ``names``, which Prefect treats as "nothing to acquire".
2. The caller waits for its turn in the ``_lanes.Lane`` of its name set: one acquisition
   at a time per process and set of names, first come first served, as Prefect's
   per-name-set acquisition service does, so a crowd of local waiters polls the server
   once, not once each.
3. :func:`acquisition` is a generator of :class:`Send` and :class:`Sleep` steps: it asks
   ``POST /v2/concurrency_limits/increment-with-lease`` (or ``/increment`` for
   ``rate_limit``), sleeps the server's ``Retry-After`` on 423 Locked, counts
   ``max_retries`` and ``timeout_seconds``, and returns a :class:`Granted`. The sync
   driver performs the steps with ``time.sleep``; the async one with ``asyncio.sleep``
   and the request in a worker thread.
4. :func:`check_granted` raises for a missing limit with ``strict=True``, else logs
   Prefect's warning on the run logger.

The timeout counts from the call, the turn in the lane included (Prefect starts its clock
when the service takes the request, so a queued call can wait past its timeout). Within
it, busy (429, 503) or unreachable answers are retried by the transport until the
deadline, and then reported as the timeout.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from skiff._exceptions import APIError, APIStatusError, SkiffError, ValidationError
from skiff.client._retry import should_retry
from skiff.concurrency._lanes import no_limits

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DECREMENT_WITH_LEASE",
    "AcquireConcurrencySlotTimeoutError",
    "ConcurrencyArgumentError",
    "ConcurrencySlotAcquisitionError",
    "Granted",
    "Limit",
    "Plan",
    "Send",
    "Sleep",
    "acquisition",
    "check_granted",
    "granted_lease",
    "logger",
    "plan",
    "run_logger",
    "timed_out",
]

INCREMENT = "/v2/concurrency_limits/increment"
INCREMENT_WITH_LEASE = "/v2/concurrency_limits/increment-with-lease"
DECREMENT_WITH_LEASE = "/v2/concurrency_limits/decrement-with-lease"
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 60, 24 * 60 * 60  # the server's bounds
DEFAULT_RETRY_AFTER = 1.0  # a 423 without Retry-After (the server always sends one)
RETRIES_UNTIL_DEADLINE = 1_000_000  # with a timeout, the deadline ends the retries
HOLDER_TYPES = ("flow_run", "task_run", "deployment")

# Prefect logs these lines on "prefect.concurrency"; the same name keeps logging configs working.
logger = logging.getLogger("prefect.concurrency")


class ConcurrencySlotAcquisitionError(SkiffError):
    """Slots could not be acquired: the server refused, or a limit is missing and ``strict``."""


class AcquireConcurrencySlotTimeoutError(SkiffError, TimeoutError):
    """The slots were not acquired within ``timeout_seconds``."""


class ConcurrencyArgumentError(ValidationError, ConcurrencySlotAcquisitionError):
    """An argument is wrong, so nothing was sent; the message says what to pass.

    It is also a :class:`ConcurrencySlotAcquisitionError`, which is what Prefect raises
    for the same arguments once the server rejects them.
    """


class Limit(msgspec.Struct, frozen=True):
    """A limit the server counted slots on (``MinimalConcurrencyLimitResponse``)."""

    id: uuid.UUID
    name: str
    limit: int


class _LeaseAnswer(msgspec.Struct):
    lease_id: uuid.UUID
    limits: list[Limit]


_lease_decoder = msgspec.json.Decoder(_LeaseAnswer)
_limits_decoder = msgspec.json.Decoder(list[Limit])


class Plan(NamedTuple):
    """Checked arguments of one acquisition; ``deadline`` is a ``time.monotonic()`` value."""

    names: list[Any]  # as given, for messages (Prefect prints them unsorted)
    occupy: int
    mode: Literal["concurrency", "rate_limit"]
    deadline: float | None
    timeout_seconds: float | None
    max_retries: int | None
    lease_duration: float | None  # None: rate_limit, no lease
    holder: dict[str, str] | None
    strict: bool

    def body(self) -> dict[str, Any]:
        """The increment request's body: names sorted and deduplicated, as Prefect sends them."""
        body: dict[str, Any] = {
            "names": sorted(set(self.names)),
            "slots": self.occupy,
            "mode": self.mode,
        }
        if self.lease_duration is not None:
            body["lease_duration"] = self.lease_duration
            if self.holder is not None:
                body["holder"] = self.holder
        return body


class Granted(NamedTuple):
    """What the server granted: the lease (``None`` for rate limits) and the limits counted."""

    lease_id: uuid.UUID | None
    limits: list[Limit]


class Send(NamedTuple):
    """Step: POST ``body`` to ``path`` and send back the response.

    ``options`` are the transport's keywords: with a timeout, its ``deadline``, and
    retries of busy or unreachable answers until then (so such an error afterwards means
    the time ran out); without one, the transport's usual retries.
    """

    path: str
    body: dict[str, Any]
    options: dict[str, Any]


class Sleep(NamedTuple):
    """Step: sleep ``seconds``, then resume the generator."""

    seconds: float


# ---------------------------------------------------------------------------- arguments
def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_names(names: Any) -> list[Any] | None:
    if not names:
        return None
    listed = names if isinstance(names, list) else [names]
    if not all(isinstance(name, str) for name in listed):
        raise ConcurrencyArgumentError(
            f"names must be a limit name or a list of limit names (str); got {names!r}: "
            f"pass for example concurrency('database') or concurrency(['database', 'api'])"
        )
    return listed


def _check_holder(holder: Any) -> dict[str, str] | None:
    if holder is None:
        return None
    if isinstance(holder, Mapping):
        kind, holder_id = holder.get("type"), holder.get("id")
    else:
        kind, holder_id = getattr(holder, "type", None), getattr(holder, "id", None)
    try:
        parsed = uuid.UUID(str(holder_id))
    except ValueError:
        parsed = None
    if kind not in HOLDER_TYPES or parsed is None:
        raise ConcurrencyArgumentError(
            f"holder must be None or have a 'type' (one of {', '.join(HOLDER_TYPES)}) and an "
            f"'id' (a UUID), as a dict or a ConcurrencyLeaseHolder; got {holder!r}"
        )
    return {"type": str(kind), "id": str(parsed)}


def plan(
    names: Any,
    occupy: Any,
    mode: Literal["concurrency", "rate_limit"],
    *,
    timeout_seconds: Any = None,
    max_retries: Any = None,
    lease_duration: Any = None,
    holder: Any = None,
    strict: bool = False,
) -> Plan | None:
    """Check the arguments; ``None`` when ``names`` is empty (nothing to acquire, as in Prefect)."""
    listed = _check_names(names)
    if isinstance(occupy, bool) or not isinstance(occupy, int) or occupy < 1:
        raise ConcurrencyArgumentError(
            f"occupy must be a whole number of slots, 1 or more; got {occupy!r}"
        )
    if timeout_seconds is not None and (not _is_number(timeout_seconds) or timeout_seconds < 0):
        raise ConcurrencyArgumentError(
            f"timeout_seconds must be None (wait as long as it takes) or a number of seconds, "
            f"0 or more; got {timeout_seconds!r}"
        )
    if max_retries is not None and (
        isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
    ):
        raise ConcurrencyArgumentError(
            f"max_retries must be None (retry until the timeout) or a whole number, 0 or more; "
            f"got {max_retries!r}"
        )
    if lease_duration is not None and (
        not _is_number(lease_duration)
        or not MIN_LEASE_SECONDS <= lease_duration <= MAX_LEASE_SECONDS
    ):
        raise ConcurrencyArgumentError(
            f"lease_duration must be a number of seconds from {MIN_LEASE_SECONDS} to "
            f"{MAX_LEASE_SECONDS} (the server's bounds); got {lease_duration!r}"
        )
    checked_holder = _check_holder(holder)
    if listed is None:
        return None
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    return Plan(
        listed,
        occupy,
        mode,
        deadline,
        timeout_seconds,
        max_retries,
        lease_duration,
        checked_holder,
        bool(strict),
    )


# ---------------------------------------------------------------------------- answers
def _status_text(response: httpx.Response) -> str:
    """``"422 Unprocessable Entity: slots: Input should be greater than 0"``, as Prefect words it."""
    status = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    messages: list[str] = []
    if isinstance(body, dict):
        errors = body.get("exception_detail") or body.get("detail")
        if isinstance(errors, str):
            messages.append(errors)
        elif isinstance(errors, list):
            for error in errors:
                if not isinstance(error, dict) or not isinstance(error.get("msg"), str):
                    continue
                loc = error.get("loc")
                parts = list(loc) if isinstance(loc, (list, tuple)) else []
                if parts and parts[0] == "body":
                    parts = parts[1:]
                field = ".".join(str(part) for part in parts)
                messages.append(f"{field}: {error['msg']}" if field else error["msg"])
    return f"{status}: {'; '.join(messages)}" if messages else status


def _refused(plan: Plan, error: APIError) -> ConcurrencySlotAcquisitionError:
    if isinstance(error, APIStatusError):
        return ConcurrencySlotAcquisitionError(
            f"Unable to acquire concurrency slots on {plan.names!r}: {_status_text(error.response)}"
        )
    return ConcurrencySlotAcquisitionError(
        f"Unable to acquire concurrency slots on {plan.names!r}: {error}"
    )


def timed_out(plan: Plan) -> AcquireConcurrencySlotTimeoutError:
    """The error for a plan whose ``timeout_seconds`` ran out."""
    return AcquireConcurrencySlotTimeoutError(
        f"Attempt to acquire concurrency slots timed out after {plan.timeout_seconds} second(s)"
    )


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return DEFAULT_RETRY_AFTER


def _decode(plan: Plan, response: httpx.Response) -> Granted:
    try:
        if plan.lease_duration is None:
            return Granted(None, _limits_decoder.decode(response.content))
        answer = _lease_decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise ConcurrencySlotAcquisitionError(
            f"Unable to acquire concurrency slots on {plan.names!r}: the server's answer to "
            f"{response.request.url.path} could not be read ({exc}); is PREFECT_API_URL a "
            f"Prefect 3 server?"
        ) from exc
    return Granted(answer.lease_id, answer.limits)


def granted_lease(response: httpx.Response) -> uuid.UUID | None:
    """The lease an increment-with-lease answer granted slots under, if any (for cleanup)."""
    try:
        answer = _lease_decoder.decode(response.content)
    except msgspec.DecodeError:
        return None
    return answer.lease_id if answer.limits else None


# ---------------------------------------------------------------------------- the protocol
def _uses_cache(plan: Plan) -> bool:
    # Only the task engine's tag limits, as in Prefect: user-named limits are always asked.
    return (
        plan.holder is not None
        and plan.holder["type"] == "task_run"
        and all(name.startswith("tag:") for name in plan.names)
    )


def acquisition(plan: Plan) -> Generator[Send | Sleep, httpx.Response | None, Granted]:
    """The acquisition as steps: a :class:`Send` is answered with its response (or its
    :class:`~skiff.APIError` thrown in), a :class:`Sleep` with ``None``."""
    path = INCREMENT if plan.lease_duration is None else INCREMENT_WITH_LEASE
    body = plan.body()
    retries = plan.max_retries
    cached = _uses_cache(plan)
    key = frozenset(plan.names)
    options: dict[str, Any] = {}
    if plan.deadline is not None:
        options = {"deadline": plan.deadline, "max_retries": RETRIES_UNTIL_DEADLINE}
    while True:
        if cached and no_limits.known(key):
            return Granted(uuid.uuid4(), [])
        try:
            response = yield Send(path, body, options)
            assert response is not None, "a Send is answered with its response"
        except APIStatusError as exc:
            if plan.deadline is not None and should_retry(exc):
                raise timed_out(plan) from exc
            if exc.status_code != 423 or (retries is not None and retries <= 0):
                raise _refused(plan, exc) from exc
            delay = _retry_after(exc.response)
            logger.debug(
                "Unable to acquire concurrency slot for %s. Retrying in %s second(s).",
                body["names"],
                delay,
            )
            if plan.deadline is not None and time.monotonic() + delay >= plan.deadline:
                yield Sleep(max(0.0, plan.deadline - time.monotonic()))
                raise timed_out(plan) from exc
            yield Sleep(delay)
            if retries is not None:
                retries -= 1
            continue
        except APIError as exc:
            if plan.deadline is not None and should_retry(exc):
                raise timed_out(plan) from exc
            raise _refused(plan, exc) from exc
        granted = _decode(plan, response)
        if cached and not granted.limits:
            no_limits.add(key)
        return granted


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger] | None:
    """The current run's logger (its lines reach the server), or ``None`` outside a run."""
    from skiff._engine import _context

    if _context.current_flow() is None:
        return None
    from skiff._engine._logging import get_run_logger

    return get_run_logger()


def check_granted(plan: Plan, granted: Granted, *, fallback: bool, quiet: bool = False) -> None:
    """For limits that do not exist: raise with ``strict``, else warn as Prefect does.

    ``fallback``: outside a run, warn on ``prefect.concurrency`` (``concurrency``) or stay
    silent (``rate_limit``). ``quiet`` (the task engine's tag limits) logs at DEBUG.
    """
    if granted.limits:
        return
    if plan.strict:
        raise ConcurrencySlotAcquisitionError(
            f"Concurrency limits {plan.names!r} must be created before acquiring slots"
        )
    target = run_logger() or (logger if fallback else None)
    if target is not None:
        target.log(
            logging.DEBUG if quiet else logging.WARNING,
            f"Concurrency limits {plan.names!r} do not exist - skipping acquisition.",
        )
