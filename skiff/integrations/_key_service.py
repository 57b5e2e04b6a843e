"""What the key services skiff calls over REST share (Google Cloud KMS, Azure Key Vault)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import httpx

from skiff.blocks._errors import DecryptionError

__all__ = ["RestKeyProvider"]


class RestKeyProvider(abc.ABC):
    """Shared HTTP plumbing for the key services skiff calls over REST with a bearer token."""

    def __init__(
        self,
        token_provider: Callable[[], str] | None,
        http_client: httpx.Client | None,
    ) -> None:
        self._token_provider = token_provider
        self._http = http_client

    @abc.abstractmethod
    def _default_token(self) -> str:
        """A bearer token from the cloud's default credentials (each provider says how)."""

    def _post(self, url: str, body: dict[str, str]) -> dict[str, Any]:
        token = (self._token_provider or self._default_token)()
        http = self._http or httpx.Client(timeout=30.0)
        try:
            response = http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        finally:
            if self._http is None:
                http.close()
        if response.is_error:
            # The body may echo request data; the status and URL are enough to act on.
            raise DecryptionError(f"key service answered {response.status_code} for {url}")
        result: dict[str, Any] = response.json()
        return result
