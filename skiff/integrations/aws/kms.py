"""``AwsKmsKey``: AWS KMS as the key provider of skiff's block encryption (``aws-kms:<key>``).

boto3 is imported when the first data key is wrapped (``pip install 'skiff[aws]'``).
"""

from __future__ import annotations

from typing import Any

from skiff.blocks._crypto import fingerprint
from skiff.integrations.aws.credentials import boto3_module

__all__ = ["AwsKmsKey"]


class AwsKmsKey:
    """An AWS KMS key (id, ARN or alias) wrapping data keys with ``kms:Encrypt``/``kms:Decrypt``.

    ``client`` is a boto3 KMS client (e.g. ``AwsCredentials(...).get_client("kms")``); by
    default one is made from the environment, which honours ``AWS_ENDPOINT_URL``.
    """

    def __init__(self, key: str, *, client: Any = None) -> None:
        self.key = key
        self._client = client
        self._key_id = fingerprint("aws-kms", key)

    @property
    def key_id(self) -> str:
        """``aws-kms-`` and a fingerprint of the key name."""
        return self._key_id

    def _kms(self) -> Any:
        if self._client is None:
            self._client = boto3_module().client("kms")
        return self._client

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key with KMS."""
        return bytes(self._kms().encrypt(KeyId=self.key, Plaintext=data_key)["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a data key with KMS."""
        return bytes(self._kms().decrypt(KeyId=self.key, CiphertextBlob=wrapped)["Plaintext"])

    def __repr__(self) -> str:
        return f"AwsKmsKey(key={self.key!r})"
