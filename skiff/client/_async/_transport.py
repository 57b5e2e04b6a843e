"""The one place requests are sent: headers, auth, CSRF, retries and error mapping."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from skiff._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ResponseValidationError,
    ValidationError,
)
from skiff.client import _constants as c
from skiff.client._base import CsrfState, build_headers, decode, encode, error_from_response
from skiff.client._retry import cut_timeout, retry_delay, should_retry, sleep_fits
from skiff.client._settings import Settings
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncTransport"]

Timeout = float | None | NotGiven

# Failures before a byte of the request left: the server cannot have processed it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return retry_delay(state.attempt_number, error)


class _Stop:
    """Stop after ``attempts``, or when the next sleep would not end before ``deadline``.

    tenacity computes the upcoming sleep before it asks whether to stop, so a sleep that
    would cross the deadline never starts; the last error is raised instead.
    """

    def __init__(self, attempts: int, deadline: float | None) -> None:
        self.attempts = attempts
        self.deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        return not sleep_fits(state.upcoming_sleep, self.deadline, now=time.monotonic())


class AsyncTransport:
    """A pooled HTTP connection to one Prefect API, with skiff's retry and error policy."""

    def __init__(self, settings: Settings, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base_url = settings.require_api_url()
        self._csrf = CsrfState()
        self._server_version: str | None = None
        self._server_version_read = False
        self._owned = http_client is None
        self._http = http_client or self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        settings = self.settings
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=build_headers(settings),
            timeout=settings.request_timeout,
            limits=httpx.Limits(
                max_connections=c.DEFAULT_MAX_CONNECTIONS,
                max_keepalive_connections=c.DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
            ),
            verify=(
                False if settings.tls_insecure_skip_verify else (settings.ssl_cert_file or True)
            ),
        )

    async def reset(self) -> None:
        """Drop the pooled connections and the CSRF token, and start afresh.

        For a process restored from a snapshot (Lambda SnapStart): the sockets it holds
        were opened by another sandbox. A client passed in by the caller is kept.
        """
        self._csrf = CsrfState()
        if self._owned:
            await self._http.aclose()
            self._http = self._new_client()

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
        deadline: float | None = None,
    ) -> httpx.Response:
        """Send one request and return the successful response, or raise a typed error.

        ``json`` is encoded with msgspec (Structs leave unset fields out); ``content`` is
        sent as is. Errors are retried as :mod:`skiff.client._retry` describes, unless
        ``retry=False``. ``timeout`` bounds each attempt, the CSRF token fetch included.

        ``deadline`` (a ``time.monotonic()`` value) bounds the whole call: each attempt's
        timeout is cut to the time left, no backoff sleep runs past it (the last error is
        raised instead), and once it has passed nothing more is sent
        (:class:`~skiff.APITimeoutError`).
        """
        try:
            body = encode(json) if json is not None else content
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError(
                f"{method} {path}: the body cannot be sent as JSON: {exc}"
            ) from None
        retries = self.settings.max_retries if isinstance(max_retries, NotGiven) else max_retries
        attempts = retries + 1 if retry else 1
        retrying = AsyncRetrying(
            stop=_Stop(attempts, deadline),
            wait=_wait,
            retry=retry_if_exception(should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, path, params, body, headers, timeout, deadline)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: Timeout,
        deadline: float | None,
    ) -> httpx.Response:
        if self._csrf.needs_token(method):
            await self._fetch_csrf_token(timeout, deadline)
        response = await self._send(method, path, params, body, headers, timeout, deadline)
        if self._csrf.is_token_rejection(response):
            self._csrf.invalidate()
            await self._fetch_csrf_token(timeout, deadline)
            response = await self._send(method, path, params, body, headers, timeout, deadline)
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
        deadline: float | None,
    ) -> httpx.Response:
        all_headers = {**self._csrf.headers(), **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        extra: dict[str, Any] = {}
        if deadline is not None:
            given = self.settings.request_timeout if isinstance(timeout, NotGiven) else timeout
            left = cut_timeout(given, deadline, now=time.monotonic())
            if left is not None and left <= 0:
                raise APITimeoutError(
                    f"{method} {path}: the call's deadline passed before it could be sent",
                    maybe_processed=False,
                )
            extra["timeout"] = left
        elif not isinstance(timeout, NotGiven):
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
        except httpx.RequestError as exc:
            # The rest of httpx's request errors: a body it cannot decode (bad gzip), a
            # redirect loop. The request went out, so it may have been processed.
            raise APIConnectionError(
                f"{method} {path}: the answer from {self.base_url} could not be read ({exc!r}); "
                f"check PREFECT_API_URL and any proxy in front of the server",
                request=getattr(exc, "_request", None),
            ) from exc
        except httpx.InvalidURL as exc:
            raise ValidationError(f"{method} {path}: not a valid request URL ({exc})") from exc

    async def server_version(self) -> str | None:
        """The server's version, read once from ``GET /admin/version`` and then remembered.

        None when the server does not say (an error answer, e.g. a proxy or Prefect Cloud
        without the route); connection errors propagate, as for any call.
        """
        if not self._server_version_read:
            try:
                value = decode(await self.request("GET", "/admin/version"), str)
            except (APIStatusError, ResponseValidationError):
                value = None
            self._server_version = value
            self._server_version_read = True
        return self._server_version

    async def _fetch_csrf_token(self, timeout: Timeout, deadline: float | None) -> None:
        # The caller's timeout bounds the token fetch too, or a short call could wait 60 s here.
        response = await self._send(
            "GET", "/csrf-token", {"client": self._csrf.client_id}, None, None, timeout, deadline
        )
        self._csrf.learn(response)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()
