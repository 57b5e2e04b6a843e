"""``GcpKmsKey``: Google Cloud KMS as the key provider of skiff's block encryption
(``gcp-kms:<name>``), over REST; google-auth is needed only for Application Default
Credentials (``pip install 'skiff[gcp]'``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx

from skiff._exceptions import MissingExtraError
from skiff.blocks._crypto import fingerprint
from skiff.integrations._key_service import RestKeyProvider

__all__ = ["GcpKmsKey"]


class GcpKmsKey(RestKeyProvider):
    """A Google Cloud KMS key (``projects/P/locations/L/keyRings/R/cryptoKeys/K``), via REST.

    Credentials come from ``credentials`` (google-auth, e.g. ``GcpCredentials.get_credentials()``)
    or Application Default Credentials. ``token_provider``/``http_client`` replace the token
    source and the HTTP layer (tests, proxies).
    """

    def __init__(
        self,
        key_name: str,
        *,
        credentials: Any = None,
        token_provider: Callable[[], str] | None = None,
        http_client: httpx.Client | None = None,
        endpoint: str = "https://cloudkms.googleapis.com",
    ) -> None:
        super().__init__(token_provider, http_client)
        self.key_name = key_name
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/")
        self._key_id = fingerprint("gcp-kms", key_name)

    @property
    def key_id(self) -> str:
        """``gcp-kms-`` and a fingerprint of the key name."""
        return self._key_id

    def _default_token(self) -> str:
        try:
            import google.auth
            import google.auth.transport.requests
        except ImportError:
            raise MissingExtraError("gcp", "google-auth") from None
        if self._credentials is None:
            scopes = ["https://www.googleapis.com/auth/cloudkms"]
            self._credentials, _ = google.auth.default(scopes=scopes)
        self._credentials.refresh(google.auth.transport.requests.Request())
        return str(self._credentials.token)

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key with Cloud KMS."""
        body = {"plaintext": base64.b64encode(data_key).decode()}
        reply = self._post(f"{self._endpoint}/v1/{self.key_name}:encrypt", body)
        return base64.b64decode(reply["ciphertext"])

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a data key with Cloud KMS."""
        body = {"ciphertext": base64.b64encode(wrapped).decode()}
        reply = self._post(f"{self._endpoint}/v1/{self.key_name}:decrypt", body)
        return base64.b64decode(reply["plaintext"])

    def __repr__(self) -> str:
        return f"GcpKmsKey(key_name={self.key_name!r})"
