"""The generic ``Secret`` block (slug ``secret``), interchangeable with Prefect's."""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

import pydantic

from skiff.blocks._core import Block
from skiff.client._constants import SERVER_VERSION

__all__ = ["Secret"]

# The value types Prefect's Secret accepts; the titles are part of its schema (and checksum).
_SecretValue = Union[  # noqa: UP007
    Annotated[pydantic.StrictStr, pydantic.Field(title="string")],
    Annotated[pydantic.JsonValue, pydantic.Field(title="JSON")],
]


class Secret(Block):
    """A block holding one secret value: a string, or any JSON value."""

    _logo_url = "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/secret.png"
    _documentation_url = "https://www.prefect.io/docs/latest/develop/blocks"
    _description = (
        "A block that represents a secret value. The value stored in this block will be "
        "obfuscated when this block is viewed or edited in the UI."
    )
    # Prefect's Secret ships in prefect itself; registering under its version avoids a
    # second schema row when both sides register.
    _block_schema_version = SERVER_VERSION

    value: Union[pydantic.SecretStr, pydantic.Secret[_SecretValue]] = pydantic.Field(  # noqa: UP007
        default=...,
        description="A value that should be kept secret.",
        examples=["sk-1234567890", {"username": "johndoe", "password": "s3cr3t"}],
        json_schema_extra={"writeOnly": True, "format": "password"},
    )

    def get(self) -> Any:
        """The secret: a JSON string is decoded, anything else is returned as stored."""
        value = self.value.get_secret_value()
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value
