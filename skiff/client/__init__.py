"""The Prefect REST client: ``Client`` (sync) and ``AsyncClient``, their settings and errors.

``Client`` and ``AsyncClient`` (and the generated models behind them) load on first use, so the
runtime, which only needs the transport, never pays for the 400-odd API models.
"""

from __future__ import annotations

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
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    SkiffError,
    UnprocessableEntityError,
    UnsupportedByServerError,
    ValidationError,
    WaitTimeoutError,
)
from skiff.client._settings import Settings
from skiff.client._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from skiff.client._async._client import AsyncClient
    from skiff.client._sync._client import Client

__all__ = [
    "NOT_GIVEN",
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
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "Settings",
    "SkiffError",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "ValidationError",
    "WaitTimeoutError",
    "get_client",
]


def get_client(sync_client: bool = False, **settings: Any) -> Any:
    """Prefect's ``get_client()``: an :class:`AsyncClient`, or a :class:`Client` when
    ``sync_client=True``, configured from the environment (``settings`` override it)."""
    if sync_client:
        from skiff.client._sync._client import Client

        return Client(**settings)
    from skiff.client._async._client import AsyncClient

    return AsyncClient(**settings)


def __getattr__(name: str) -> Any:
    if name == "Client":
        from skiff.client._sync._client import Client

        return Client
    if name == "AsyncClient":
        from skiff.client._async._client import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'skiff.client' has no attribute {name!r}")
