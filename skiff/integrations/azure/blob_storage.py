"""``AzureBlobStorageContainer`` (slug ``azure-blob-storage-container``), interchangeable with
``prefect_azure.blob_storage.AzureBlobStorageContainer``.

Field names, defaults, descriptions and the docstring's first section are part of the block
schema and its checksum, and are kept identical to prefect-azure 0.4.13.
azure-storage-blob is imported only when the container is first used
(``pip install 'skiff[azure]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from pydantic import Field, field_serializer

from skiff._exceptions import MissingExtraError
from skiff.integrations._storage import (
    STORAGE_CAPABILITIES,
    BucketNotFoundError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    WritableFileSystem,
    cached_client,
    join_under,
    tag_with_slug,
)
from skiff.integrations.azure.credentials import AzureBlobStorageCredentials

__all__ = ["AzureBlobStorageContainer"]

_TIMEOUT = 60  # seconds per request


def _azure_errors() -> Any:
    try:
        from azure.core import exceptions
    except ImportError:
        raise MissingExtraError("azure", "azure-storage-blob") from None
    return exceptions


class AzureBlobStorageContainer(WritableFileSystem):
    """
    Represents a container in Azure Blob Storage.

    This class provides methods for downloading and uploading files and folders
    to and from the Azure Blob Storage container.

    Attributes:
        container_name: The name of the Azure Blob Storage container.
        credentials: The credentials to use for authentication with Azure.
        base_folder: A base path to a folder within the container to use
            for reading and writing objects.

    Example:
        ```python
        from skiff.integrations.azure import AzureBlobStorageContainer

        container = AzureBlobStorageContainer.load("BLOCK_NAME")
        container.write_path("results/answer.json", b"42")
        ```

    skiff's block reads and writes whole objects (``read_path``/``write_path``); the folder
    transfers of prefect-azure's block are not part of it.
    """

    _block_type_name = "Azure Blob Storage Container"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/54e3fa7e00197a4fbd1d82ed62494cb58d08c96a-250x250.png"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-azure"
    _block_schema_version = "0.4.13"  # the prefect-azure release this schema matches
    _block_schema_capabilities = STORAGE_CAPABILITIES

    container_name: str = Field(
        default=..., description="The name of a Azure Blob Storage container."
    )
    credentials: AzureBlobStorageCredentials = Field(
        default_factory=AzureBlobStorageCredentials,
        description="The credentials to use for authentication with Azure.",
    )
    base_folder: Optional[str] = Field(  # noqa: UP045 (schema parity)
        default=None,
        description=(
            "A base path to a folder within the container to use for reading and writing objects."
        ),
    )

    _tag_credentials = field_serializer("credentials", mode="wrap")(tag_with_slug)

    def resolve_path(self, path: str) -> str:
        """The blob name for ``path``: ``base_folder/path``, as prefect-azure joins them.

        Unlike the S3 and GCS blocks (and as prefect-azure), a path is always joined to the
        folder. ``..``, or an absolute path outside the folder, raises
        :class:`StoragePathError`.
        """
        return join_under(self.base_folder or "", path, "base_folder")

    def _client(self) -> Any:
        credentials = self.credentials
        return cached_client(credentials, "blob", credentials.get_blob_service_client)

    @contextmanager
    def _errors(self, action: str, name: str) -> Iterator[None]:
        azure = _azure_errors()
        where = f"{name!r} in Azure container {self.container_name!r}"
        try:
            yield
        except azure.ResourceNotFoundError as error:
            if getattr(error, "error_code", None) == "ContainerNotFound":
                raise BucketNotFoundError(
                    f"Azure Blob Storage container {self.container_name!r} does not exist; "
                    "create it, or set container_name on the AzureBlobStorageContainer block "
                    "to an existing container"
                ) from error
            raise ObjectNotFoundError(f"no blob {where}") from error
        except azure.ClientAuthenticationError as error:
            raise StorageAuthError(
                f"Azure refused to {action} {where} ({getattr(error, 'error_code', None)}): "
                "fix the block's credentials (connection_string, or account_url with a "
                "service principal or DefaultAzureCredential)"
            ) from error
        except azure.HttpResponseError as error:
            status = getattr(error, "status_code", None)
            if status in (401, 403):
                raise StorageAuthError(
                    f"Azure refused to {action} {where} (HTTP {status}): the credentials "
                    "lack the permission, or are wrong; fix the block's credentials"
                ) from error
            raise StorageError(
                f"Azure could not {action} {where}: HTTP {status} "
                f"{getattr(error, 'error_code', None) or ''}".rstrip()
            ) from error
        except azure.ServiceRequestError as error:
            raise StorageError(
                f"cannot reach Azure Blob Storage to {action} {where}: check the account URL "
                "or connection string's endpoint, and the network"
            ) from error

    def read_path(self, path: str) -> bytes:
        """The contents of the blob at ``path`` (under ``base_folder``)."""
        name = self.resolve_path(path)
        with self._errors("read", name):
            blob = self._client().get_blob_client(self.container_name, name)
            content: bytes = blob.download_blob(timeout=_TIMEOUT).readall()
        return content

    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path`` (under ``base_folder``), replacing a blob there.

        Returns the blob name (prefect-azure's ``write_path`` returns None).
        """
        name = self.resolve_path(path)
        with self._errors("write", name):
            blob = self._client().get_blob_client(self.container_name, name)
            blob.upload_blob(content, overwrite=True, timeout=_TIMEOUT)
        return name
