"""Google Cloud: the ``GcsBucket`` storage block and its credentials (``pip install 'skiff[gcp]'``).

Ports ``from prefect_gcp import GcpCredentials, GcsBucket`` unchanged::

    from skiff.integrations.gcp import GcpCredentials, GcsBucket

    bucket = GcsBucket(bucket="results", bucket_folder="runs", gcp_credentials=GcpCredentials())
    name = bucket.write_path("answer.json", b"42")   # -> "runs/answer.json"
    bucket.read_path("answer.json")                   # -> b"42"
"""

from __future__ import annotations

from skiff.blocks._gcp import GcpCredentials
from skiff.integrations.gcp.cloud_storage import GcsBucket

__all__ = ["GcpCredentials", "GcsBucket"]
