"""Azure: credentials, the ``AzureBlobStorageContainer`` storage block and the
``AzureKeyVaultKey`` block-encryption key (``pip install 'skiff[azure]'``).

Ports ``from prefect_azure import AzureBlobStorageCredentials`` and
``from prefect_azure.blob_storage import AzureBlobStorageContainer`` unchanged::

    from skiff.integrations.azure import AzureBlobStorageContainer, AzureBlobStorageCredentials

    container = AzureBlobStorageContainer(
        container_name="results",
        credentials=AzureBlobStorageCredentials(connection_string="..."),
    )
    container.write_path("answer.json", b"42")
    container.read_path("answer.json")  # -> b"42"
"""

from __future__ import annotations

from skiff.integrations.azure.blob_storage import AzureBlobStorageContainer
from skiff.integrations.azure.credentials import AzureBlobStorageCredentials
from skiff.integrations.azure.key_vault import AzureKeyVaultKey

__all__ = ["AzureBlobStorageContainer", "AzureBlobStorageCredentials", "AzureKeyVaultKey"]
