"""Google Cloud: credentials, the ``GcsBucket`` storage block, the ``GcpSecret`` Secret Manager
block and the ``GcpKmsKey`` block-encryption key (``pip install 'skiff[gcp]'``).

Ports ``from prefect_gcp import GcpCredentials, GcpSecret, GcsBucket`` unchanged::

    from skiff.integrations.gcp import GcpCredentials, GcsBucket

    bucket = GcsBucket(bucket="results", bucket_folder="runs", gcp_credentials=GcpCredentials())
    name = bucket.write_path("answer.json", b"42")   # -> "runs/answer.json"
    bucket.read_path("answer.json")                   # -> b"42"
"""

from __future__ import annotations

from skiff.integrations.gcp.cloud_storage import GcsBucket
from skiff.integrations.gcp.credentials import GcpCredentials
from skiff.integrations.gcp.kms import GcpKmsKey
from skiff.integrations.gcp.secret_manager import GcpSecret

__all__ = ["GcpCredentials", "GcpKmsKey", "GcpSecret", "GcsBucket"]
