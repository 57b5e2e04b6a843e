"""The GCP credentials block's old home: it lives in ``skiff.integrations.gcp`` now.

Kept so that imports written against it keep working; new code imports from
``skiff.integrations.gcp`` (or ``skiff.blocks``).
"""

from __future__ import annotations

from skiff.integrations.gcp.credentials import GcpCredentials

__all__ = ["GcpCredentials"]
