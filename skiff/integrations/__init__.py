"""Cloud integrations, one folder per cloud: ``aws/``, ``gcp/``, ``azure/``.

Each holds that cloud's blocks: ``S3Bucket`` (and ``MinIOCredentials``), ``GcsBucket``,
``AzureBlobStorageContainer``; ``filesystems`` holds ``LocalFileSystem`` and the storage
bases. ``skiff.blocks`` re-exports them all. The cloud SDKs are imported only when a block
first talks to its service, so each needs its extra then (``pip install 'skiff[aws]'``...).
"""

from __future__ import annotations

# The blocks here build on skiff.blocks, which re-exports them: initialising skiff.blocks
# first means whichever of the two is imported first, neither sees the other half-made.
import skiff.blocks  # noqa: F401
