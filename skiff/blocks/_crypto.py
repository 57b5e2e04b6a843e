"""Client-side envelope encryption of secret fields (the ``skiff[crypto]`` extra).

Each save draws a fresh data key, encrypts every secret value with it (Fernet: AES-128-CBC +
HMAC-SHA256), and stores the data key wrapped by a key provider next to each value::

    skiff:enc:v1:<key-id>:<wrapped-data-key>.<fernet-token>

so the server only ever holds ciphertext. ``<key-id>`` names the wrapping key (a short
fingerprint, never the key), which lets a load with the wrong key fail with a clear message.
Values are JSON-encoded before encryption, so strings, dicts and numbers round-trip.

Providers: :class:`LocalKey` (a Fernet key, e.g. ``SKIFF_BLOCK_KEY``), :class:`AwsKmsKey`,
:class:`GcpKmsKey` and :class:`AzureKeyVaultKey`. The cloud SDKs load only when used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from skiff._exceptions import ConfigurationError, MissingExtraError
from skiff.blocks._errors import DecryptionError
from skiff.client._constants import ENV_BLOCK_KEY

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "PREFIX",
    "AwsKmsKey",
    "AzureKeyVaultKey",
    "Envelope",
    "GcpKmsKey",
    "KeyProvider",
    "LocalKey",
    "is_encrypted",
    "key_provider_from_env",
    "key_provider_from_spec",
]

PREFIX = "skiff:enc:v1:"
_AWS_SPEC = "aws-kms:"
_GCP_SPEC = "gcp-kms:"
_AZURE_SPEC = "azure-keyvault:"


def _fernet(key: bytes) -> Fernet:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise MissingExtraError("crypto", "cryptography") from None
    return Fernet(key)


def _fingerprint(kind: str, identity: bytes | str) -> str:
    raw = identity.encode() if isinstance(identity, str) else identity
    return f"{kind}-{hashlib.sha256(raw).hexdigest()[:16]}"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_encrypted(value: object) -> bool:
    """Whether ``value`` is a skiff ciphertext string."""
    return isinstance(value, str) and value.startswith(PREFIX)


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys. ``key_id`` must be stable, short, and free of ``:``."""

    @property
    def key_id(self) -> str:
        """A fingerprint naming the wrapping key in ciphertexts."""
        ...

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a data key made by :meth:`wrap`."""
        ...


class LocalKey:
    """A local Fernet key (urlsafe base64 of 32 bytes), as ``SKIFF_BLOCK_KEY`` holds.

    Make one with ``LocalKey.generate()`` or
    ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
    """

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        try:
            self._fernet = _fernet(raw)
        except ValueError:
            # Never echo the value: it is (meant to be) a key.
            raise ConfigurationError(
                "the block encryption key is not a Fernet key (urlsafe base64 of 32 bytes); "
                "generate one with LocalKey.generate()"
            ) from None
        self._key_id = _fingerprint("local", raw)

    @classmethod
    def generate(cls) -> str:
        """A new random key, in the format ``SKIFF_BLOCK_KEY`` expects."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    @property
    def key_id(self) -> str:
        """``local-`` and a fingerprint of the key."""
        return self._key_id

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key with the local key."""
        return self._fernet.encrypt(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a data key with the local key."""
        return self._fernet.decrypt(wrapped)

    def __repr__(self) -> str:
        return f"LocalKey(key_id={self._key_id!r})"


class AwsKmsKey:
    """An AWS KMS key (id, ARN or alias) wrapping data keys with ``kms:Encrypt``/``kms:Decrypt``.

    ``client`` is a boto3 KMS client (e.g. ``AwsCredentials(...).get_client("kms")``); by
    default one is made from the environment, which honours ``AWS_ENDPOINT_URL``.
    """

    def __init__(self, key: str, *, client: Any = None) -> None:
        self.key = key
        self._client = client
        self._key_id = _fingerprint("aws-kms", key)

    @property
    def key_id(self) -> str:
        """``aws-kms-`` and a fingerprint of the key name."""
        return self._key_id

    def _kms(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise MissingExtraError("aws", "boto3") from None
            self._client = boto3.client("kms")
        return self._client

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key with KMS."""
        return bytes(self._kms().encrypt(KeyId=self.key, Plaintext=data_key)["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a data key with KMS."""
        return bytes(self._kms().decrypt(KeyId=self.key, CiphertextBlob=wrapped)["Plaintext"])

    def __repr__(self) -> str:
        return f"AwsKmsKey(key={self.key!r})"


class _RestKeyProvider:
    """Shared HTTP plumbing for the key services skiff calls over REST with a bearer token."""

    def __init__(
        self,
        token_provider: Callable[[], str] | None,
        http_client: httpx.Client | None,
    ) -> None:
        self._token_provider = token_provider
        self._http = http_client

    def _default_token(self) -> str:
        raise NotImplementedError

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


class GcpKmsKey(_RestKeyProvider):
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
        self._key_id = _fingerprint("gcp-kms", key_name)

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


class AzureKeyVaultKey(_RestKeyProvider):
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
        self._key_id = _fingerprint("azure-kv", self.key_url)

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
        reply = self._post(url, {"alg": self.algorithm, "value": _b64e(value)})
        return _b64d(reply["value"])

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap a data key with the vault key."""
        return self._call("wrapkey", data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key with the vault key."""
        return self._call("unwrapkey", wrapped)

    def __repr__(self) -> str:
        return f"AzureKeyVaultKey(key_url={self.key_url!r})"


def key_provider_from_spec(spec: str) -> KeyProvider:
    """A provider from a spec: a Fernet key, ``aws-kms:<key>``, ``gcp-kms:<name>`` or
    ``azure-keyvault:<key-url>``."""
    spec = spec.strip()
    if spec.startswith(_AWS_SPEC):
        return AwsKmsKey(spec[len(_AWS_SPEC) :])
    if spec.startswith(_GCP_SPEC):
        return GcpKmsKey(spec[len(_GCP_SPEC) :])
    if spec.startswith(_AZURE_SPEC):
        return AzureKeyVaultKey(spec[len(_AZURE_SPEC) :])
    return LocalKey(spec)


def key_provider_from_env() -> KeyProvider | None:
    """The provider ``SKIFF_BLOCK_KEY`` describes, or None when it is unset (no encryption)."""
    spec = os.environ.get(ENV_BLOCK_KEY, "").strip()
    if not spec:
        return None
    try:
        return key_provider_from_spec(spec)
    except ConfigurationError as error:
        raise ConfigurationError(f"{ENV_BLOCK_KEY}: {error}") from None


class Envelope:
    """One encryption session: encrypts with ``encrypt_with`` under a single fresh data key,
    and decrypts anything made by one of ``decrypt_with`` (unwrapping each data key once)."""

    def __init__(
        self,
        encrypt_with: KeyProvider | None,
        decrypt_with: Iterable[KeyProvider] = (),
    ) -> None:
        self.encrypt_with = encrypt_with
        self._decrypt_with = {p.key_id: p for p in decrypt_with}
        if encrypt_with is not None:
            self._decrypt_with.setdefault(encrypt_with.key_id, encrypt_with)
        self._data_key: tuple[bytes, str] | None = None
        self._unwrapped: dict[str, bytes] = {}

    @property
    def enabled(self) -> bool:
        """Whether values get encrypted."""
        return self.encrypt_with is not None

    def encrypt(self, value: Any) -> str:
        """``value`` (JSON-encodable) as a skiff ciphertext string."""
        provider = self.encrypt_with
        if provider is None:
            raise ConfigurationError(f"no block encryption key: set {ENV_BLOCK_KEY}")
        if ":" in provider.key_id:
            raise ConfigurationError(f"key id {provider.key_id!r} must not contain ':'")
        if self._data_key is None:
            data_key = base64.urlsafe_b64encode(os.urandom(32))
            self._data_key = (data_key, _b64e(provider.wrap(data_key)))
        data_key, wrapped = self._data_key
        token = _fernet(data_key).encrypt(json.dumps(value).encode()).decode()
        return f"{PREFIX}{provider.key_id}:{wrapped}.{token}"

    def decrypt(self, ciphertext: str, field: str) -> Any:
        """The value of a skiff ciphertext; ``field`` only names it in errors."""
        try:
            key_id, rest = ciphertext[len(PREFIX) :].split(":", 1)
            wrapped, token = rest.split(".", 1)
        except ValueError:
            raise DecryptionError(f"{field}: malformed skiff ciphertext") from None
        provider = self._decrypt_with.get(key_id)
        if provider is None:
            have = ", ".join(sorted(self._decrypt_with)) or "none"
            raise DecryptionError(
                f"{field} is encrypted with key {key_id}, but the configured key is {have}; "
                f"set {ENV_BLOCK_KEY} to the key that saved it"
            )
        data_key = self._unwrapped.get(wrapped)
        if data_key is None:
            try:
                data_key = provider.unwrap(_b64d(wrapped))
            except DecryptionError:
                raise
            except Exception as error:
                raise DecryptionError(
                    f"{field}: key {key_id} could not unwrap the data key ({type(error).__name__})"
                ) from None
            self._unwrapped[wrapped] = data_key
        try:
            plain = _fernet(data_key).decrypt(token.encode())
        except Exception as error:
            raise DecryptionError(
                f"{field}: ciphertext is damaged or was not made with key {key_id} "
                f"({type(error).__name__})"
            ) from None
        return json.loads(plain)
