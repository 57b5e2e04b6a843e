"""skiff: a dependency-light SDK for the Prefect 3 server.

``from skiff import flow, task, get_run_logger, flush, Client, AsyncClient``, and every
other name top-level ``prefect`` exports in skiff's scope (``Flow``, ``Task``, ``State``,
``tags``, ``unmapped``, ``allow_failure``, ``get_client``). Serving, deploying, pausing
and transactions are out of scope: those names raise
:class:`~skiff.exceptions.NotSupportedError` when used.

Names are loaded on first use, so ``import skiff`` costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skiff._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    MissingExtraError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ReportingError,
    ResponseValidationError,
    SkiffError,
    UnprocessableEntityError,
    UnsupportedByServerError,
    ValidationError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from skiff._engine import (
        Flow,
        State,
        Task,
        allow_failure,
        dropped_reports,
        flow,
        flush,
        get_run_logger,
        tags,
        task,
        unmapped,
    )
    from skiff._unsupported import (
        Transaction,
        apause_flow_run,
        aresume_flow_run,
        aserve,
        asuspend_flow_run,
        deploy,
        pause_flow_run,
        resume_flow_run,
        serve,
        suspend_flow_run,
    )
    from skiff.client import AsyncClient, Client, get_client

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "Flow",
    "ConflictError",
    "InternalServerError",
    "MissingExtraError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReportingError",
    "ResponseValidationError",
    "SkiffError",
    "State",
    "Task",
    "Transaction",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "ValidationError",
    "WaitTimeoutError",
    "allow_failure",
    "apause_flow_run",
    "aresume_flow_run",
    "aserve",
    "asuspend_flow_run",
    "deploy",
    "dropped_reports",
    "flow",
    "flush",
    "get_client",
    "get_run_logger",
    "pause_flow_run",
    "resume_flow_run",
    "serve",
    "suspend_flow_run",
    "tags",
    "task",
    "unmapped",
]

_ENGINE_NAMES = (
    "Flow", "State", "Task", "allow_failure", "dropped_reports", "flow", "flush",
    "get_run_logger", "tags", "task", "unmapped",
)  # fmt: skip
_UNSUPPORTED_NAMES = (
    "Transaction", "apause_flow_run", "aresume_flow_run", "aserve", "asuspend_flow_run",
    "deploy", "pause_flow_run", "resume_flow_run", "serve", "suspend_flow_run",
)  # fmt: skip
_LAZY = {
    "Client": "skiff.client",
    "AsyncClient": "skiff.client",
    "get_client": "skiff.client",
    **dict.fromkeys(_ENGINE_NAMES, "skiff._engine"),
    **dict.fromkeys(_UNSUPPORTED_NAMES, "skiff._unsupported"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skiff' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
