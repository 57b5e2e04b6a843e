"""Base of the generated resource groups (``client.flow_runs``, ``client.deployments``, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import msgspec

from skiff.client._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from skiff.client._async._transport import AsyncTransport

__all__ = ["AsyncAPIResource", "path_param", "query_params"]


def path_param(value: object) -> str:
    """A path segment, percent-encoded so names with '/' or spaces stay one segment."""
    return quote(str(value), safe="")


def query_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left unset."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is msgspec.UNSET or isinstance(value, NotGiven):
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        else:
            out[key] = str(value)
    return out


class AsyncAPIResource:
    """One resource group; all its requests go through the owning client's transport."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        return await self._transport.request(
            method,
            path,
            params=query_params(params) if params else None,
            json=json,
            timeout=timeout,
            retry=retry,
        )
