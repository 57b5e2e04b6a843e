"""``AzureKeyVaultKey``: an Azure Key Vault key as the key provider of skiff's block encryption
(``azure-keyvault:<url>``), over REST; azure-identity is needed only for
``DefaultAzureCredential`` (``pip install 'skiff[azure]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from skiff._exceptions import MissingExtraError
from skiff.blocks._crypto import b64d, b64e, fingerprint
from skiff.integrations._key_service import RestKeyProvider

__all__ = ["AzureKeyVaultKey"]


class AzureKeyVaultKey(RestKeyProvider):
    """An Azure Key Vault key (``https://V.vault.azure.net/keys/NAME[/VERSION]``), via REST.

    Data keys are wrapped with ``wrapkey``/``unwrapkey`` (RSA-OAEP-256 by default). The token
    comes from ``credential`` (azure-identity, e.g. ``AzureBlobStorageCredentials.get_credential()``)
    or ``DefaultAzureCredential``.
    """

    _API_VERSION = "7.4"
    _SCOPE = "https://vault.azure.net/.default"

    def __init__(
        self,
        key_url: str,
        *,
        credential: Any = None,
        algorithm: str = "RSA-OAEP-256",
        token_provider: Callable[[], str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(token_provider, http_client)
        self.key_url = key_url.rstrip("/")
        self.algorithm = algorithm
        self._credential = credential
        self._key_id = fingerprint("azure-kv", self.key_url)

    @property
    def key_id(self) -> str:
        """``azure-kv-`` and a fingerprint of the key URL."""
        return self._key_id

    def _default_token(self) -> str:
        if self._credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError:
                raise MissingExtraError("azure", "azure-identity") from None
            self._credential = DefaultAzureCredential()
        return str(self._credential.get_token(self._SCOPE).token)

    def _call(self, operation: str, value: bytes) -> bytes:
        url = f"{self.key_url}/{operation}?api-version={self._API_VERSION}"
        reply = self._post(url, {"alg": self.algorithm, "value": b64e(value)})
        return b64d(reply["value"])

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap a data key with the vault key."""
        return self._call("wrapkey", data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key with the vault key."""
        return self._call("unwrapkey", wrapped)

    def __repr__(self) -> str:
        return f"AzureKeyVaultKey(key_url={self.key_url!r})"
