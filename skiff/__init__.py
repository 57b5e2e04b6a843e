"""skiff: a dependency-light SDK for the Prefect 3 server.

``from skiff import flow, task, get_run_logger, flush, Client, AsyncClient``

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
    from skiff._engine import flow, flush, get_run_logger, task
    from skiff.client import AsyncClient, Client

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
    "flow",
    "flush",
    "get_run_logger",
    "task",
]

_LAZY = {
    "Client": "skiff.client",
    "AsyncClient": "skiff.client",
    "flow": "skiff._engine",
    "task": "skiff._engine",
    "flush": "skiff._engine",
    "get_run_logger": "skiff._engine",
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
