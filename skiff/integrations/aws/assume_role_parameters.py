"""``AssumeRoleParameters``: the STS ``assume_role`` options of an ``AwsCredentials`` block.

Its fields, titles, descriptions and docstring are part of the credentials' block schema and
so of its checksum; they are kept identical to prefect-aws 0.7.12's
``prefect_aws.assume_role_parameters``.
"""

from __future__ import annotations

from typing import Optional

import pydantic
from pydantic import Field

__all__ = ["AssumeRoleParameters"]


class AssumeRoleParameters(pydantic.BaseModel):
    """
    Model used to manage parameters for the AWS STS assume_role call.
    Refer to the
    [boto3 STS assume_role docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/sts/client/assume_role.html)
    for more information about the possible assume role configurations.

    Attributes:
        RoleSessionName: An identifier for the assumed role session.
            This value is used to uniquely identify a session when the same role
            is assumed by different principals or for different reasons.
            If not provided, a default will be generated.
        DurationSeconds: The duration, in seconds, of the role session.
            The value can range from 900 seconds (15 minutes) to 43,200 seconds (12 hours).
        Policy: An IAM policy in JSON format that you want to use as an inline session policy.
        PolicyArns: The ARNs of the IAM managed policies to use as managed session policies.
            Each item should be a dict with an 'arn' key.
        Tags: A list of session tags. Each tag should be a dict with 'Key' and 'Value' keys.
        TransitiveTagKeys: A list of keys for session tags that you want to set as transitive.
            Transitive tags persist during role chaining.
        ExternalId: A unique identifier that is used by third parties to assume a role
            in their customers' accounts.
        SerialNumber: The identification number of the MFA device that is associated
            with the user who is making the AssumeRole call.
        TokenCode: The value provided by the MFA device, if MFA authentication is required.
        SourceIdentity: The source identity specified by the principal that is calling
            the AssumeRole operation.
        ProvidedContexts: A list of context information. Each context should be a dict
            with 'ProviderArn' and 'ContextAssertion' keys.
    """

    RoleSessionName: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="An identifier for the assumed role session. If not provided, a default will be generated.",
        title="Role Session Name",
    )
    DurationSeconds: Optional[int] = Field(  # noqa: UP045
        default=None,
        description="The duration, in seconds, of the role session. The value can range from 900 seconds (15 minutes) to 43,200 seconds (12 hours).",
        title="Duration Seconds",
    )
    Policy: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="An IAM policy in JSON format that you want to use as an inline session policy.",
        title="Policy",
    )
    PolicyArns: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="The ARNs of the IAM managed policies to use as managed session policies. Each item should be a dict with an 'arn' key.",
        title="Policy ARNs",
    )
    Tags: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="A list of session tags. Each tag should be a dict with 'Key' and 'Value' keys.",
        title="Tags",
    )
    TransitiveTagKeys: Optional[list[str]] = Field(  # noqa: UP045
        default=None,
        description="A list of keys for session tags that you want to set as transitive. Transitive tags persist during role chaining.",
        title="Transitive Tag Keys",
    )
    ExternalId: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="A unique identifier that is used by third parties to assume a role in their customers' accounts.",
        title="External ID",
    )
    SerialNumber: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The identification number of the MFA device that is associated with the user who is making the AssumeRole call.",
        title="Serial Number",
    )
    TokenCode: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The value provided by the MFA device, if MFA authentication is required.",
        title="Token Code",
    )
    SourceIdentity: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The source identity specified by the principal that is calling the AssumeRole operation.",
        title="Source Identity",
    )
    ProvidedContexts: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="A list of context information. Each context should be a dict with 'ProviderArn' and 'ContextAssertion' keys.",
        title="Provided Contexts",
    )
