"""A worker for serverless work pools: it starts a deployment's flow runs in a function.

``skiff worker start --pool NAME --type lambda|cloud-functions|azure-functions`` (or
:class:`Worker` from asyncio) follows Prefect's worker protocol against a self-hosted
server; each cloud's part is a :class:`Dispatcher` (see
:mod:`skiff.integrations.worker._dispatch` for the contract). :func:`deploy` (also
``Flow.deploy`` and ``skiff deploy``) registers a deployment whose code is the function's.
"""

from __future__ import annotations

from skiff.integrations.worker._deploy import deploy
from skiff.integrations.worker._dispatch import (
    COMMON_VARIABLES,
    DispatchAuthError,
    Dispatcher,
    DispatchError,
    DispatchRequest,
    FunctionNotFoundError,
    InvocationError,
    JobVariablesError,
    Liveness,
    PayloadTooLargeError,
    PoolTypeMismatchError,
    UnknownPoolTypeError,
    base_job_template,
    dispatcher_for,
    register,
)
from skiff.integrations.worker._loop import Worker

__all__ = [
    "COMMON_VARIABLES",
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
    "Worker",
    "base_job_template",
    "deploy",
    "dispatcher_for",
    "register",
]
