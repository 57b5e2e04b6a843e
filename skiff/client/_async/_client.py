"""``AsyncClient``: every Prefect REST operation, grouped by the spec's tags."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from skiff.client._async._transport import AsyncTransport
from skiff.client._generated._async.resources import AsyncResources
from skiff.client._settings import Settings
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncClient"]


class AsyncClient(AsyncResources):
    """Async client for the Prefect 3 REST API.

    Arguments win over the environment (``PREFECT_API_URL``, ``PREFECT_API_KEY``,
    ``PREFECT_API_AUTH_STRING``, ``PREFECT_API_REQUEST_TIMEOUT``, ``PREFECT_CLIENT_MAX_RETRIES``),
    which wins over defaults. Resource groups are attributes: ``client.flow_runs``,
    ``client.deployments``, ... Use it as an async context manager, or call :meth:`aclose`.

    Example::

        async with AsyncClient("http://127.0.0.1:4200/api") as client:
            run = await client.flow_runs.read(run_id)
    """

    def __init__(
        self,
        api_url: str | NotGiven = NOT_GIVEN,
        *,
        api_key: str | NotGiven | None = NOT_GIVEN,
        auth_string: str | NotGiven | None = NOT_GIVEN,
        timeout: float | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        settings: Settings | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings or Settings.load(
            api_url=api_url,
            api_key=api_key,
            auth_string=auth_string,
            request_timeout=timeout,
            max_retries=max_retries,
        )
        super().__init__(AsyncTransport(self.settings, http_client=http_client))

    @property
    def api_url(self) -> str:
        """The API URL requests go to, ending in ``/api``."""
        return self._transport.base_url

    async def server_version(self) -> str | None:
        """The server's version (``"3.9.1"``), read once from ``GET /admin/version``.

        Calls an older server lacks use it to raise :class:`~skiff.UnsupportedByServerError`
        before sending; None when the server does not report one.
        """
        return await self._transport.server_version()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        """Send any request (``path`` relative to the API URL) and get the raw ``httpx.Response``.

        Auth, CSRF, retries and error mapping apply as for every typed method.
        """
        return await self._transport.request(
            method, path, params=params, json=json, timeout=timeout, retry=retry
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
