"""A worker for serverless work pools: it starts a deployment's flow runs in a function.

``skiff worker start --pool NAME --type lambda|cloud-functions|azure-functions`` follows
Prefect's worker protocol against a self-hosted server; each cloud's part is a
:class:`Dispatcher` (see :mod:`skiff.integrations.worker._dispatch` for the contract).
"""

from __future__ import annotations

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
    "base_job_template",
    "dispatcher_for",
    "register",
]
