"""The Azure credentials block's old home: it lives in ``skiff.integrations.azure`` now.

Kept so that imports written against it keep working; new code imports from
``skiff.integrations.azure`` (or ``skiff.blocks``).
"""

from __future__ import annotations

from skiff.integrations.azure.credentials import AzureBlobStorageCredentials

__all__ = ["AzureBlobStorageCredentials"]
