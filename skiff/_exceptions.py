"""skiff's exceptions, all rooted at :class:`SkiffError`.

This module is the root of the tree: the client's errors are defined here, and the
others subclass them where they live (marked below): [runtime] in ``skiff._engine``
(``skiff.exceptions`` exports them under Prefect's names), [cache] in
``skiff._engine._policies``/``_hashing`` (``skiff.cache_policies``), [parameters] in
``skiff._engine._parameters``, [blocks] in ``skiff.blocks``, [integrations] in
``skiff.integrations`` (``skiff.blocks`` exports them), [results] in
``skiff._engine._results`` (``skiff.exceptions``), [concurrency] in
``skiff.concurrency`` and [variables] in ``skiff.variables``.
``skiff.client._exceptions`` re-exports this module, so old imports keep working.

The tree::

    SkiffError
    ├── ConfigurationError          a setting is missing or malformed (names the variable)
    │   ├── PoolTypeMismatchError       the pool exists with a type other than the worker's [worker]
    │   └── UnknownPoolTypeError        no dispatcher is registered for the pool type   [worker]
    ├── MissingExtraError           an optional extra is not installed (names the pip command)
    ├── ValidationError             an argument or a response body does not fit its type,
    │   │                           or breaks a limit the server documents (names the limit)
    │   ├── ResponseValidationError     a response body that does not decode (names the field path)
    │   ├── BlockValidationError        block data does not fit the block's fields   [blocks]
    │   ├── ParameterTypeError          a flow's parameters do not fit its annotations
    │   │                               (Prefect's text, one line per error)   [parameters]
    │   ├── SignatureMismatchError      parameters the flow function does not take;
    │   │                               also a ``TypeError``   [parameters]
    │   ├── CachePolicyError            a cache policy built or combined wrongly;
    │   │                               also a ``TypeError``   [cache]
    │   └── ConcurrencyArgumentError    a wrong argument, nothing sent; also a
    │                                   ``ConcurrencySlotAcquisitionError``   [concurrency]
    ├── ReportingError              strict mode: a report could not be delivered
    ├── WaitTimeoutError            a run did not reach a final state in time (``flow_runs.wait``)
    ├── OrchestrationError          the server's orchestration stopped a flow run   [runtime]
    │   ├── FlowRunAborted              it answered ABORT (cancelled, already finished)
    │   └── FlowRunRejected             it answered REJECT; ``state`` is the state it kept
    ├── RunTimeoutError             a flow or task run passed its ``timeout_seconds`` [runtime]
    │   ├── FlowRunTimeoutError         a flow run's (its state is ``TimedOut``)
    │   └── TaskRunTimeoutError         a task run's (its state is ``TimedOut``)
    ├── FailedRun                   ``state.result()`` of a failed run with no exception of
    │                               its own   [runtime]
    ├── CrashedRun                  ``state.result()`` of a crashed run   [runtime]
    ├── CancelledRun                ``state.result()`` of a cancelled run   [runtime]
    ├── UnfinishedRun               ``state.result()`` of a run not yet final   [runtime]
    ├── UpstreamTaskError           a task's upstream did not complete (NotReady)   [runtime]
    ├── MissingContextError         a run-only call outside a run; also a
    │                               ``RuntimeError``   [runtime]
    ├── NotSupportedError           a Prefect feature out of skiff's scope (serve, deploy,
    │                               pause, transactions); also a ``NotImplementedError`` [runtime]
    ├── CacheKeyError               a cache key could not be computed; the task runs
    │   │                           uncached   [cache]
    │   └── HashError                   neither JSON-encodable nor picklable (Prefect's name)
    ├── ConcurrencySlotAcquisitionError   slots refused, or a missing limit with
    │                                     ``strict``   [concurrency]
    ├── AcquireConcurrencySlotTimeoutError   slots not acquired within ``timeout_seconds``
    │                                        [concurrency]
    ├── VariableAlreadyExistsError  ``Variable.set`` without ``overwrite=True``   [variables]
    ├── BlockError                  loading or saving a credential block failed     [blocks]
    │   ├── BlockNotFoundError          no document of that name for the block type
    │   ├── UnknownBlockTypeError       the slug names no block type
    │   ├── BlockAlreadyExistsError     ``save(name)`` without ``overwrite=True``
    │   ├── ObfuscatedSecretError       a secret holds the server's ``********`` placeholder
    │   └── DecryptionError             an encrypted secret cannot be decrypted
    ├── StorageError                reading or writing through a storage block failed (names
    │   │                           the bucket, the path and the fix)   [integrations]
    │   ├── StoragePathError            the path leaves the block's base folder
    │   ├── StorageAuthError            credentials missing, or refused by the service
    │   ├── BucketNotFoundError         no bucket or container of that name
    │   └── ObjectNotFoundError         nothing is stored at the path (a cache miss)
    ├── SecretError                 reading, writing or deleting a secret block's secret
    │   │                           failed (names the secret and the fix)   [integrations]
    │   ├── SecretAuthError             credentials missing, or refused by the service
    │   └── SecretNotFoundError         no secret (or version) of that name
    ├── ResultStorageError          a ``result_storage`` slug loads no storage block   [results]
    ├── ResultRecordError           a result record could not be written or read   [results]
    │   ├── ResultWriteError            not persisted: the value did not serialize, or the
    │   │                               storage refused it (the run still completes)
    │   ├── CorruptRecordError          the stored bytes are not a record (a cache miss)
    │   ├── UnknownSerializerError      a serializer other than json and pickle (a cache miss)
    │   └── PickleNotAllowedError       a pickle record without SKIFF_ALLOW_PICKLE_RESULTS=1
    ├── DispatchError               a flow run could not be handed to its function; the worker
    │   │                           ends the run Crashed with the message (names the fix) [worker]
    │   ├── FunctionNotFoundError       no such function, ARN, URL or qualifier
    │   ├── DispatchAuthError           credentials missing, or refused by the cloud
    │   ├── PayloadTooLargeError        the payload is over the invoke limit (Lambda ``Event``: 256 KB)
    │   ├── InvocationError             the cloud refused or failed the invocation otherwise
    │   └── JobVariablesError           a job variable of the wrong type, or one the template
    │                                   lacks; also a ``ValidationError``
    └── APIError                    anything that went wrong talking to the server
        ├── UnsupportedByServerError    the server's version lacks the operation; names the
        │                               version it needs (nothing was sent)
        ├── APIConnectionError          no response: refused, reset, DNS, TLS
        │   └── APITimeoutError             no response in time
        │       (both carry ``maybe_processed``: False only when the request surely never
        │        reached the server, i.e. connect failed or no pooled connection was free;
        │        True when it may have been processed, so a non-idempotent write may have
        │        happened)
        └── APIStatusError              the server answered with a 4xx or 5xx
            ├── BadRequestError             400
            ├── AuthenticationError         401
            ├── PermissionDeniedError       403
            ├── NotFoundError               404 (on the API root: hints at a URL missing ``/api``)
            ├── ConflictError               409
            ├── UnprocessableEntityError    422 (carries the server's ``detail``)
            ├── RateLimitError              429
            └── InternalServerError         5xx

``RunTimeoutError`` (with its two subclasses), ``WaitTimeoutError`` and
``AcquireConcurrencySlotTimeoutError`` are also ``TimeoutError``s; ``ConfigurationError``,
``ValidationError``, ``CacheKeyError``, ``VariableAlreadyExistsError``,
``StoragePathError``, ``CorruptRecordError`` and ``PayloadTooLargeError`` are
``ValueError``s; ``MissingExtraError`` is an ``ImportError``; ``BlockNotFoundError``,
``UnknownBlockTypeError``, ``BucketNotFoundError``, ``ObjectNotFoundError``,
``SecretNotFoundError`` and ``FunctionNotFoundError`` are ``LookupError``s. Outside the
tree, on purpose:
``skiff.concurrency.asyncio.ConcurrencyLeaseLostError`` is an ``asyncio.CancelledError``
(as Prefect's), so an ``except Exception`` in the body cannot swallow it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "MissingExtraError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReportingError",
    "ResponseValidationError",
    "SkiffError",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "ValidationError",
    "WaitTimeoutError",
]


class SkiffError(Exception):
    """Root of every exception skiff raises on purpose."""


class ConfigurationError(SkiffError, ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


class MissingExtraError(SkiffError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that adds it."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"this feature needs the {module!r} package, which is not installed; "
            f"install it with: pip install 'skiff[{extra}]'"
        )


class ValidationError(SkiffError, ValueError):
    """An argument, or a body from the server, does not have the expected type or shape."""


class ResponseValidationError(ValidationError):
    """The server's response body could not be decoded into the expected model."""

    def __init__(self, message: str, *, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class ReportingError(SkiffError):
    """In strict mode, a state, log or event could not be delivered to the server."""


class WaitTimeoutError(SkiffError, TimeoutError):
    """A flow run was not final when the wait ran out; ``flow_run`` is the last one seen."""

    def __init__(self, message: str, *, flow_run: Any = None) -> None:
        super().__init__(message)
        self.flow_run = flow_run


class APIError(SkiffError):
    """Talking to the Prefect server failed."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class UnsupportedByServerError(APIError):
    """The server's version lacks this operation, so it was not sent.

    ``operation`` is ``"METHOD /path"`` (as in the spec), ``server_version`` the version the
    server reported and ``required_version`` the oldest measured version that has it.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        server_version: str | None,
        required_version: str,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.server_version = server_version
        self.required_version = required_version


class APIConnectionError(APIError):
    """The request got no response: connection refused or reset, DNS or TLS failure.

    ``maybe_processed`` is False when the request surely never reached the server (the
    connection could not be made, or no pooled connection was free in time), so resending
    it cannot do the work twice. It is True otherwise: the server may have acted on it.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        maybe_processed: bool = True,
    ) -> None:
        super().__init__(message, request=request)
        self.maybe_processed = maybe_processed


class APITimeoutError(APIConnectionError):
    """The request got no response within its timeout."""


class APIStatusError(APIError):
    """The server answered with an error status; ``status_code``, ``detail`` and ``response`` say what."""

    status_code: int

    def __init__(self, message: str, *, response: httpx.Response, detail: Any = None) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.detail = detail


class BadRequestError(APIStatusError):
    """400: the server could not understand the request."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong credentials (set PREFECT_API_KEY or PREFECT_API_AUTH_STRING)."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this, or the CSRF token was refused."""


class NotFoundError(APIStatusError):
    """404: no such object or route."""


class ConflictError(APIStatusError):
    """409: the object already exists or conflicts with another one."""


class UnprocessableEntityError(APIStatusError):
    """422: the server rejected the body; ``detail`` holds its per-field complaints."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[APIStatusError]:
    """The exception class for an error status code."""
    if status_code >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)
