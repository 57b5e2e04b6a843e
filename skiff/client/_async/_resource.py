"""Base of the generated resource groups (``client.flow_runs``, ``client.deployments``, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from skiff._exceptions import NotFoundError
from skiff.client._base import path_param, query_params
from skiff.client._compat import requirement, route_missing_error, unsupported_error
from skiff.client._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from skiff.client._async._transport import AsyncTransport

__all__ = ["AsyncAPIResource", "path_param", "query_params"]


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
        # An operation some measured server lacks: read the server's version (once per
        # client) and refuse before sending when it is known to be too old.
        needs = requirement(method, path)
        version = None
        if needs is not None:
            version = await self._transport.server_version()
            refused = unsupported_error(needs, version)
            if refused is not None:
                raise refused
        try:
            return await self._transport.request(
                method,
                path,
                params=query_params(params) if params else None,
                json=json,
                timeout=timeout,
                retry=retry,
            )
        except NotFoundError as exc:
            missing = None if needs is None else route_missing_error(needs, version, exc)
            if missing is not None:
                raise missing from exc
            raise
