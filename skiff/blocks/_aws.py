"""The AWS credential blocks' old home: they live in ``skiff.integrations.aws`` now.

Kept so that imports written against it keep working; new code imports from
``skiff.integrations.aws`` (or ``skiff.blocks``).
"""

from __future__ import annotations

from skiff.integrations.aws.assume_role_parameters import AssumeRoleParameters
from skiff.integrations.aws.client_parameters import AwsClientParameters
from skiff.integrations.aws.credentials import AwsCredentials

__all__ = ["AssumeRoleParameters", "AwsClientParameters", "AwsCredentials"]
