"""Typed blocks saved on the Prefect server, interchangeable with Prefect's own (``skiff[blocks]``).

Write blocks as with Prefect; porting one changes only the import::

    from pydantic import SecretStr
    from skiff.blocks import AwsCredentials, Block

    class Database(Block):
        host: str
        password: SecretStr

    Database(host="db.internal", password="hunter2").save("prod", overwrite=True)
    db = Database.load("prod")
    db.password.get_secret_value()

    s3 = AwsCredentials.load("prod-aws").get_client("s3")   # pip install 'skiff[aws]'

Set ``SKIFF_BLOCK_KEY`` (a Fernet key, or ``aws-kms:<key>``, ``gcp-kms:<name>``,
``azure-keyvault:<url>``; needs ``skiff[crypto]``) and secret fields are encrypted before they
leave the process; ``python -m skiff.blocks.rotate`` re-encrypts saved documents under a new key.
"""

from __future__ import annotations

try:
    import pydantic  # noqa: F401
except ImportError:
    from skiff._exceptions import MissingExtraError

    raise MissingExtraError("blocks", "pydantic") from None

from skiff.blocks._core import Block, Requester
from skiff.blocks._crypto import (
    KeyProvider,
    LocalKey,
    key_provider_from_env,
    key_provider_from_spec,
)
from skiff.blocks._errors import (
    BlockAlreadyExistsError,
    BlockError,
    BlockNotFoundError,
    BlockValidationError,
    DecryptionError,
    ObfuscatedSecretError,
    UnknownBlockTypeError,
)
from skiff.blocks._system import Secret
from skiff.blocks._types import OBFUSCATED, SecretDict

# Each cloud's blocks live in skiff.integrations.<cloud>; re-exported here under the names
# skiff.blocks has always had.
from skiff.integrations._secrets import (
    SecretAuthError,
    SecretBlock,
    SecretError,
    SecretNotFoundError,
)
from skiff.integrations._storage import (
    BucketNotFoundError,
    ObjectNotFoundError,
    ReadableFileSystem,
    StorageAuthError,
    StorageError,
    StoragePathError,
    WritableFileSystem,
)
from skiff.integrations.aws import (
    AssumeRoleParameters,
    AwsClientParameters,
    AwsCredentials,
    AwsKmsKey,
    AwsSecret,
    MinIOCredentials,
    S3Bucket,
)
from skiff.integrations.azure import (
    AzureBlobStorageContainer,
    AzureBlobStorageCredentials,
    AzureKeyVaultKey,
)
from skiff.integrations.filesystems import LocalFileSystem
from skiff.integrations.gcp import GcpCredentials, GcpKmsKey, GcpSecret, GcsBucket

__all__ = [
    "OBFUSCATED",
    "AssumeRoleParameters",
    "AwsClientParameters",
    "AwsCredentials",
    "AwsKmsKey",
    "AwsSecret",
    "AzureBlobStorageContainer",
    "AzureBlobStorageCredentials",
    "AzureKeyVaultKey",
    "Block",
    "BlockAlreadyExistsError",
    "BlockError",
    "BlockNotFoundError",
    "BlockValidationError",
    "BucketNotFoundError",
    "DecryptionError",
    "GcpCredentials",
    "GcpKmsKey",
    "GcpSecret",
    "GcsBucket",
    "KeyProvider",
    "LocalFileSystem",
    "LocalKey",
    "MinIOCredentials",
    "ObfuscatedSecretError",
    "ObjectNotFoundError",
    "ReadableFileSystem",
    "Requester",
    "S3Bucket",
    "Secret",
    "SecretAuthError",
    "SecretBlock",
    "SecretDict",
    "SecretError",
    "SecretNotFoundError",
    "StorageAuthError",
    "StorageError",
    "StoragePathError",
    "UnknownBlockTypeError",
    "WritableFileSystem",
    "key_provider_from_env",
    "key_provider_from_spec",
]
