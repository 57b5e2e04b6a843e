"""Client-side envelope encryption of secret fields (the ``skiff[crypto]`` extra).

Each save draws a fresh data key, encrypts every secret value with it (Fernet: AES-128-CBC +
HMAC-SHA256), and stores the data key wrapped by a key provider next to each value::

    skiff:enc:v1:<key-id>:<wrapped-data-key>.<fernet-token>

so the server only ever holds ciphertext. ``<key-id>`` names the wrapping key (a short
fingerprint, never the key), which lets a load with the wrong key fail with a clear message.
Values are JSON-encoded before encryption, so strings, dicts and numbers round-trip.

Providers: :class:`LocalKey` (a Fernet key, e.g. ``SKIFF_BLOCK_KEY``) here; each cloud's key
service lives with that cloud: ``skiff.integrations.aws.kms.AwsKmsKey``,
``skiff.integrations.gcp.kms.GcpKmsKey`` and ``skiff.integrations.azure.key_vault.AzureKeyVaultKey``
(imported only when a spec names them; their SDKs load only when used).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from skiff._exceptions import ConfigurationError, MissingExtraError
from skiff.blocks._errors import DecryptionError
from skiff.client._constants import ENV_BLOCK_KEY

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "PREFIX",
    "Envelope",
    "KeyProvider",
    "LocalKey",
    "b64d",
    "b64e",
    "fingerprint",
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


def fingerprint(kind: str, identity: bytes | str) -> str:
    """A key id: ``kind-`` and 16 hex digits of sha256 of ``identity`` (never the key itself)."""
    raw = identity.encode() if isinstance(identity, str) else identity
    return f"{kind}-{hashlib.sha256(raw).hexdigest()[:16]}"


def b64e(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64d(text: str) -> bytes:
    """The bytes of :func:`b64e`'s text (padding restored)."""
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
        self._key_id = fingerprint("local", raw)

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


def key_provider_from_spec(spec: str) -> KeyProvider:
    """A provider from a spec: a Fernet key, ``aws-kms:<key>``, ``gcp-kms:<name>`` or
    ``azure-keyvault:<key-url>``."""
    spec = spec.strip()
    # Each cloud's provider is imported only when a spec names it.
    if spec.startswith(_AWS_SPEC):
        from skiff.integrations.aws.kms import AwsKmsKey

        return AwsKmsKey(spec[len(_AWS_SPEC) :])
    if spec.startswith(_GCP_SPEC):
        from skiff.integrations.gcp.kms import GcpKmsKey

        return GcpKmsKey(spec[len(_GCP_SPEC) :])
    if spec.startswith(_AZURE_SPEC):
        from skiff.integrations.azure.key_vault import AzureKeyVaultKey

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
            self._data_key = (data_key, b64e(provider.wrap(data_key)))
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
                data_key = provider.unwrap(b64d(wrapped))
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
