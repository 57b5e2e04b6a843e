"""Cloud integrations, one folder per cloud: ``aws/``, ``gcp/``, ``azure/``.

Each holds that cloud's credentials block, its key provider for block encryption (KMS, Key
Vault), its storage block (``S3Bucket`` and ``MinIOCredentials``, ``GcsBucket``,
``AzureBlobStorageContainer``), its secret block (``AwsSecret``, ``GcpSecret``) and its
dispatch; ``filesystems`` holds ``LocalFileSystem``, ``_storage`` and ``_secrets`` the bases
and errors. ``skiff.blocks`` re-exports the blocks. The cloud SDKs are imported only when a
block first talks to its service, so each needs its extra then (``pip install 'skiff[aws]'``...).
"""

from __future__ import annotations

# The blocks here build on skiff.blocks, which re-exports them: initialising skiff.blocks
# first means whichever of the two is imported first, neither sees the other half-made.
import skiff.blocks  # noqa: F401
