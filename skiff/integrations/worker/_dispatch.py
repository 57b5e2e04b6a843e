"""The dispatcher interface: what one cloud gives the shared worker loop.

The worker loop (:mod:`skiff.integrations.worker`) does everything Prefect's worker
protocol asks of a worker: the pool, heartbeats, pickup, the PENDING lock, job variables,
``infrastructure_pid``, crash and cancel bookkeeping. A :class:`Dispatcher` only starts a
function for a flow run and, when the cloud allows, looks at or stops what it started.

Contract (additive changes only):

* **Class attributes.** ``type`` is the pool type (``"lambda"``, ``"cloud-functions"``,
  ``"azure-functions"``); ``extra`` the pip extra its SDK needs (``"aws"``...).
  ``variables`` is the JSON schema (``{"type": "object", "properties": {...},
  "required": [...]}``) of the job variables the UI renders; every property has a
  ``title``, a ``description`` and a ``type`` (``string``, ``integer``, ``number``,
  ``boolean``, ``object``, ``array``), optionally a ``default`` and an ``enum``. A
  credentials block is a property with ``"allOf": [{"$ref": "#/definitions/<Block>"}]``
  and ``definitions`` holding that block's schema (the UI shows a block picker) with
  ``"additionalProperties": false`` (the server checks a run's ``{"$ref": ...}`` against
  ``oneOf`` [the block's schema, a reference]; an all-optional block schema matches both).
  :func:`base_job_template` builds the pool's template from ``variables``: each variable
  ``v`` becomes ``"v": "{{ v }}"`` in ``job_configuration``. Take from
  :data:`COMMON_VARIABLES` what applies: ``start_timeout`` always (seconds a run may
  take to report RUNNING before the worker crashes it; the worker reads it),
  ``heartbeat_timeout`` where :meth:`~Dispatcher.observe` cannot always tell (seconds
  a running flow run may send no heartbeat before the worker crashes it), ``env``
  (a str -> str mapping, merged into ``DispatchRequest.env``) where the run can get it:
  Lambda has no per-invocation environment, so its dispatcher puts it in the event and
  ``lambda_flow`` sets it for the run (the adapter's ``Trigger.env``).
* **Construction.** ``Dispatcher()`` takes no arguments and must not import the cloud's
  SDK (the worker builds one per worker, even with the extra missing, to show the
  template); import it lazily in :meth:`~Dispatcher.submit` and raise
  ``MissingExtraError(extra, package) from None`` when it is missing.
* **submit(request, config) -> infrastructure_pid.** Called in a worker thread (plain
  blocking SDK calls are fine). ``config`` is the job configuration with the variables
  filled in and checked against ``variables`` (types, no unknown names), one key per
  variable (None when neither set nor defaulted); block
  references are replaced by the block document's data (a plain dict, secrets in clear:
  build the block with ``Block.model_validate(data)``). ``request`` says which run:
  send ``request.payload`` (``{"flow_run_id": ...}``, what skiff's adapters read) as
  the event or body, and ``request.env`` where the cloud takes per-call settings, if
  anywhere. Return as soon as the cloud **accepted** the invocation, not when the flow
  ends: an id the cloud can find it by again (Lambda: ``"<function arn>::<request
  id>"``). The worker PATCHes it as the run's ``infrastructure_pid`` at once. A
  synchronous invocation is acceptable only where the cloud has no other way, and then
  it must run in the background (a thread), returning the pid first.
  Failures raise a :class:`DispatchError` subclass whose message names the fix; the
  worker proposes Crashed with that message and keeps serving the pool. Never let a
  raw SDK exception out (wrap it: the worker would crash the run with a less clear
  message, but it would still not stop).
* **observe(infrastructure_pid, config) -> Liveness.** Optional (the base returns
  ``UNKNOWN``): ``GONE`` when the cloud says the invocation died without the flow
  reporting a final state (the worker crashes the run with :meth:`~Dispatcher.gone_message`),
  ``ALIVE`` while it runs or ``UNKNOWN`` when the cloud cannot tell. Called in a thread.
* **kill(infrastructure_pid, config) -> bool.** Optional (the base returns False: the
  cloud cannot stop one invocation). Cancellation does not rely on it: a CANCELLING run
  is stopped by the flow itself, through the reporter.
* **close().** Releases SDK clients; called once when the worker stops.

Registering: :data:`DISPATCHERS` maps each pool type to ``"module:Class"`` and
:func:`dispatcher_for` imports it lazily; :func:`register` adds one at run time.
"""

from __future__ import annotations

import abc
import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skiff._exceptions import ConfigurationError, SkiffError, ValidationError

__all__ = [
    "COMMON_VARIABLES",
    "DISPATCHERS",
    "DispatchAuthError",
    "DispatchError",
    "DispatchRequest",
    "Dispatcher",
    "FunctionNotFoundError",
    "InvocationError",
    "JobVariablesError",
    "Liveness",
    "PayloadTooLargeError",
    "PoolTypeMismatchError",
    "UnknownPoolTypeError",
    "base_job_template",
    "block_definitions",
    "dispatcher_for",
    "register",
]


class DispatchError(SkiffError):
    """A flow run could not be handed to its function; the message names the fix.

    The worker ends the run Crashed with this message and goes on serving the pool.
    """


class FunctionNotFoundError(DispatchError, LookupError):
    """The function (name, ARN, URL, qualifier) does not exist where the worker looked."""


class DispatchAuthError(DispatchError):
    """Credentials are missing, or the cloud refused them."""


class PayloadTooLargeError(DispatchError, ValueError):
    """The invocation's payload is over the cloud's limit (Lambda ``Event``: 256 KB)."""


class InvocationError(DispatchError):
    """The cloud refused or failed the invocation for another reason (throttling, a 5xx...)."""


class JobVariablesError(DispatchError, ValidationError):
    """A job variable has the wrong type, or the pool's template has no such variable."""


class PoolTypeMismatchError(ConfigurationError):
    """The pool exists with a type other than the worker's (raised when the worker starts)."""


class UnknownPoolTypeError(ConfigurationError):
    """No dispatcher is registered for this pool type."""


class Liveness(enum.Enum):
    """What the cloud says of a started invocation (:meth:`Dispatcher.observe`)."""

    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DispatchRequest:
    """The flow run a dispatcher starts.

    ``payload`` is what the function must receive as its event or JSON body
    (``{"flow_run_id": ...}``); ``env`` holds the run's environment settings
    (``PREFECT__FLOW_RUN_ID`` and the template's ``env``) for clouds that take them.
    """

    flow_run_id: str
    flow_run_name: str
    deployment_id: str | None
    flow_name: str | None
    payload: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)


class Dispatcher(abc.ABC):
    """Base of the per-cloud dispatchers (see the module docs for the contract)."""

    type: ClassVar[str]
    extra: ClassVar[str]
    variables: ClassVar[Mapping[str, Any]]

    @abc.abstractmethod
    def submit(self, request: DispatchRequest, config: Mapping[str, Any]) -> str:
        """Start the function for ``request``; the infrastructure pid once it is accepted."""

    def observe(self, infrastructure_pid: str, config: Mapping[str, Any]) -> Liveness:
        """Whether the invocation still runs; ``UNKNOWN`` unless the cloud can tell."""
        return Liveness.UNKNOWN

    def gone_message(self, infrastructure_pid: str) -> str:
        """Why the invocation is gone (the Crashed state's message) after ``observe`` said so."""
        return (
            f"the invocation {infrastructure_pid} ended before the flow run reported a final state"
        )

    def kill(self, infrastructure_pid: str, config: Mapping[str, Any]) -> bool:
        """Stop the invocation; False when the cloud cannot stop one invocation."""
        return False

    def close(self) -> None:  # noqa: B027 (optional: most dispatchers hold nothing to close)
        """Release the SDK clients (the worker calls it once, when it stops)."""


COMMON_VARIABLES: Mapping[str, Mapping[str, Any]] = {
    "env": {
        "title": "Environment Variables",
        "description": "Settings for the flow run, where the cloud takes them per call.",
        "type": "object",
        "additionalProperties": {"type": "string"},
    },
    "start_timeout": {
        "title": "Start Timeout",
        "description": (
            "Seconds the function may take to report the flow run RUNNING; after that the "
            "worker marks it Crashed."
        ),
        "type": "number",
        "default": 60,
    },
    "heartbeat_timeout": {
        "title": "Heartbeat Timeout",
        "description": (
            "Seconds a running flow run may go without a heartbeat (its function sends one "
            "every SKIFF_HEARTBEAT_INTERVAL, 30 s) when the cloud cannot tell whether the "
            "invocation still runs; after that the worker marks it Crashed."
        ),
        "type": "number",
        "default": 90,
    },
}
"""Job variables the worker itself reads (``start_timeout``, ``heartbeat_timeout``) or
passes on (``env``)."""


def base_job_template(dispatcher: type[Dispatcher]) -> dict[str, Any]:
    """The pool's ``base_job_template``: every variable placed in ``job_configuration``."""
    properties = dispatcher.variables.get("properties", {})
    return {
        "job_configuration": {name: "{{ " + name + " }}" for name in properties},
        "variables": dict(dispatcher.variables),
    }


def block_definitions(block: Any) -> dict[str, Any]:
    """``definitions`` for a job variable holding a ``block`` (a Block class), for the UI's picker.

    The block's schema gets ``"additionalProperties": false``: the server checks a
    ``{"$ref": ...}`` value against ``oneOf`` [the block's schema, a reference], and an
    all-optional block schema would match both.
    """
    fields = block.block_schema_fields()
    own = {key: value for key, value in fields.items() if key != "definitions"}
    own["additionalProperties"] = False
    return {own["title"]: own, **(fields.get("definitions") or {})}


DISPATCHERS: dict[str, str | type[Dispatcher]] = {
    "lambda": "skiff.integrations.aws._dispatch:LambdaDispatcher",
    "cloud-functions": "skiff.integrations.gcp._dispatch:CloudFunctionsDispatcher",
    "azure-functions": "skiff.integrations.azure._dispatch:AzureFunctionsDispatcher",
}
"""Pool type -> dispatcher class, or ``"module:Class"`` imported on first use."""


def register(dispatcher: type[Dispatcher]) -> None:
    """Make ``dispatcher`` serve pools of its ``type`` (replacing any other)."""
    DISPATCHERS[dispatcher.type] = dispatcher


def dispatcher_for(pool_type: str) -> type[Dispatcher]:
    """The dispatcher class for ``pool_type``; :class:`UnknownPoolTypeError` if none."""
    entry = DISPATCHERS.get(pool_type)
    if entry is None:
        known = ", ".join(sorted(DISPATCHERS))
        raise UnknownPoolTypeError(
            f"no skiff worker serves pools of type {pool_type!r}; use one of: {known}"
        )
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        entry = getattr(importlib.import_module(module), name)
        assert isinstance(entry, type) and issubclass(entry, Dispatcher)
        DISPATCHERS[pool_type] = entry
    return entry
