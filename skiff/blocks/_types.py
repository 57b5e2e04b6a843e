"""Secret field types for blocks."""

from __future__ import annotations

from typing import Any

import pydantic

__all__ = ["OBFUSCATED", "SecretDict"]

# What the server puts in place of a secret when asked without include_secrets=true.
OBFUSCATED = "********"


class SecretDict(pydantic.Secret[dict[str, Any]]):
    """A dict whose every value is secret: hidden in repr/str, obfuscated by the server (``key.*``).

    Read it with ``.get_secret_value()``. Same JSON schema as Prefect's ``SecretDict``.
    """
