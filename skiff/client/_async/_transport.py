"""The one place requests are sent: headers, auth, CSRF, retries and error mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from skiff.client._base import CsrfState, build_headers, encode, error_from_response
from skiff.client._exceptions import APIConnectionError, APITimeoutError
from skiff.client._retry import retry_delay, should_retry
from skiff.client._settings import Settings
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncTransport"]

Timeout = float | None | NotGiven

# Failures before a byte of the request left: the server cannot have processed it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return retry_delay(state.attempt_number, error)


class AsyncTransport:
    """A pooled HTTP connection to one Prefect API, with skiff's retry and error policy."""

    def __init__(self, settings: Settings, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base_url = settings.require_api_url()
        self._csrf = CsrfState()
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url,
            headers=build_headers(settings),
            timeout=settings.request_timeout,
            verify=(
                False if settings.tls_insecure_skip_verify else (settings.ssl_cert_file or True)
            ),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout = NOT_GIVEN,
        retry: bool = True,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> httpx.Response:
        """Send one request and return the successful response, or raise a typed error.

        ``json`` is encoded with msgspec (Structs leave unset fields out); ``content`` is
        sent as is. Errors are retried as :mod:`skiff.client._retry` describes, unless
        ``retry=False``.
        """
        body = encode(json) if json is not None else content
        retries = self.settings.max_retries if isinstance(max_retries, NotGiven) else max_retries
        attempts = retries + 1 if retry else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=_wait,
            retry=retry_if_exception(should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, path, params, body, headers, timeout)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> httpx.Response:
        if self._csrf.needs_token(method):
            await self._fetch_csrf_token(timeout)
        response = await self._send(method, path, params, body, headers, timeout)
        if self._csrf.is_token_rejection(response):
            self._csrf.invalidate()
            await self._fetch_csrf_token(timeout)
            response = await self._send(method, path, params, body, headers, timeout)
        if response.is_error:
            raise error_from_response(response)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> httpx.Response:
        all_headers = {**self._csrf.headers(), **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        extra: dict[str, Any] = {}
        if not isinstance(timeout, NotGiven):
            extra["timeout"] = timeout
        try:
            return await self._http.request(
                method,
                path.lstrip("/"),
                params=params,
                content=body,
                headers=all_headers,
                **extra,
            )
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"{method} {path}: no response from {self.base_url} in time ({exc!r}); "
                f"raise PREFECT_API_REQUEST_TIMEOUT or pass timeout=",
                request=getattr(exc, "_request", None),
                maybe_processed=not isinstance(exc, _NEVER_SENT),
            ) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(
                f"{method} {path}: cannot reach the Prefect API at {self.base_url} ({exc!r}); "
                f"is the server running and PREFECT_API_URL right?",
                request=getattr(exc, "_request", None),
                maybe_processed=not isinstance(exc, _NEVER_SENT),
            ) from exc

    async def _fetch_csrf_token(self, timeout: Timeout) -> None:
        # The caller's timeout bounds the token fetch too, or a short call could wait 60 s here.
        response = await self._send(
            "GET", "/csrf-token", {"client": self._csrf.client_id}, None, None, timeout
        )
        self._csrf.learn(response)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()
