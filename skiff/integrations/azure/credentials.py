"""``AzureBlobStorageCredentials`` (slug ``azure-blob-storage-credentials``), interchangeable
with prefect-azure 0.4.13's block."""

from __future__ import annotations

from typing import Any, Optional

import pydantic
from pydantic import Field, model_validator

from skiff._exceptions import MissingExtraError
from skiff.blocks._core import Block

__all__ = ["AzureBlobStorageCredentials"]


class AzureBlobStorageCredentials(Block):
    """
    Stores credentials for authenticating with Azure Blob Storage.

    Authentication can be done using one of the following methods:
    1. Connection string: Provide a connection string for your Azure storage account.
    2. Account URL with DefaultAzureCredential: Provide an account URL and credentials
       will be discovered automatically using DefaultAzureCredential.
    3. Account URL with Service Principal: Provide an account URL along with client_id,
       tenant_id, and client_secret for service principal authentication.

    Example:
        ```python
        from skiff.blocks import AzureBlobStorageCredentials

        blobs = AzureBlobStorageCredentials.load("BLOCK_NAME").get_blob_service_client()
        ```
    """

    _block_type_name = "Azure Blob Storage Credentials"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/54e3fa7e00197a4fbd1d82ed62494cb58d08c96a-250x250.png"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-azure"
    _block_schema_version = "0.4.13"  # the prefect-azure release this schema matches

    connection_string: Optional[pydantic.SecretStr] = Field(  # noqa: UP045 (schema parity)
        default=None,
        description="The connection string to your Azure storage account. If provided, the connection string will take precedence over the account URL.",
    )
    account_url: Optional[str] = Field(  # noqa: UP045
        default=None,
        title="Account URL",
        description="The URL for your Azure storage account. Required for DefaultAzureCredential or service principal authentication.",
    )
    client_id: Optional[str] = Field(  # noqa: UP045
        default=None,
        title="Client ID",
        description="The service principal client ID. If provided, tenant_id and client_secret must also be provided for service principal authentication.",
    )
    tenant_id: Optional[str] = Field(  # noqa: UP045
        default=None,
        title="Tenant ID",
        description="The service principal tenant ID. If provided, client_id and client_secret must also be provided for service principal authentication.",
    )
    client_secret: Optional[pydantic.SecretStr] = Field(  # noqa: UP045
        default=None,
        description="The service principal client secret. If provided, client_id and tenant_id must also be provided for service principal authentication.",
    )

    @model_validator(mode="after")
    def _one_method(self) -> AzureBlobStorageCredentials:
        principal = [self.client_id, self.tenant_id, self.client_secret]
        if any(v is not None for v in principal) and not all(v is not None for v in principal):
            raise ValueError("client_id, tenant_id and client_secret go together")
        has_url = self.account_url is not None
        has_conn = self.connection_string is not None
        if has_url == has_conn:
            raise ValueError("set exactly one of connection_string and account_url")
        if has_conn and self.client_id is not None:
            raise ValueError("a connection string cannot be combined with a service principal")
        return self

    def get_credential(self) -> Any:
        """An azure-identity credential: the service principal, else ``DefaultAzureCredential``.

        None when the block holds a connection string, which carries its own credential.
        """
        if self.connection_string is not None:
            return None
        try:
            from azure.identity import ClientSecretCredential, DefaultAzureCredential
        except ImportError:
            raise MissingExtraError("azure", "azure-identity") from None
        if self.client_id is not None and self.tenant_id and self.client_secret:
            return ClientSecretCredential(
                tenant_id=self.tenant_id,
                client_id=self.client_id,
                client_secret=self.client_secret.get_secret_value(),
            )
        return DefaultAzureCredential()

    def get_blob_service_client(self) -> Any:
        """A (sync) ``azure.storage.blob.BlobServiceClient`` for the account."""
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise MissingExtraError("azure", "azure-storage-blob") from None
        if self.connection_string is not None:
            return BlobServiceClient.from_connection_string(
                self.connection_string.get_secret_value()
            )
        # The validator guarantees an account URL when there is no connection string.
        return BlobServiceClient(
            account_url=str(self.account_url), credential=self.get_credential()
        )
