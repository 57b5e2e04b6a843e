"""What the secret blocks share: the ``SecretBlock`` base and its errors.

A secret block names one secret in a cloud's secret service and reads, writes and deletes
its value (Prefect's ``prefect.blocks.abstract.SecretBlock``). The async twins run the same
synchronous call in a worker thread, as prefect-aws and prefect-gcp do, so there is one code
path.

The tree, under :class:`skiff.SkiffError`::

    SecretError                 reading, writing or deleting a secret failed
    ├── SecretAuthError             credentials missing, or refused by the service
    └── SecretNotFoundError         no secret (or version) of that name; a LookupError

Messages name the secret and the service's error code, never its value or a credential.
"""

from __future__ import annotations

import abc
import asyncio
import logging

from skiff._exceptions import SkiffError
from skiff.blocks._core import Block

__all__ = ["SecretAuthError", "SecretBlock", "SecretError", "SecretNotFoundError"]

logger = logging.getLogger("skiff.integrations")


class SecretError(SkiffError):
    """A secret could not be read, written or deleted (the message names the fix)."""


class SecretAuthError(SecretError):
    """No credentials were found, or the secret service refused them."""


class SecretNotFoundError(SecretError, LookupError):
    """The secret (or the version asked for) does not exist."""


class SecretBlock(Block, abc.ABC):
    """A block that manages one secret in a secret service (Prefect's ``SecretBlock``)."""

    @abc.abstractmethod
    def read_secret(self) -> bytes:
        """The secret's value; :class:`SecretNotFoundError` when there is none."""

    @abc.abstractmethod
    def write_secret(self, secret_data: bytes) -> str:
        """Store ``secret_data`` as the secret's new value (creating it); return its id."""

    @abc.abstractmethod
    def delete_secret(self) -> str:
        """Delete the secret; return its id."""

    async def aread_secret(self) -> bytes:
        """:meth:`read_secret` in a worker thread."""
        return await asyncio.to_thread(self.read_secret)

    async def awrite_secret(self, secret_data: bytes) -> str:
        """:meth:`write_secret` in a worker thread."""
        return await asyncio.to_thread(self.write_secret, secret_data)

    async def adelete_secret(self) -> str:
        """:meth:`delete_secret` in a worker thread."""
        return await asyncio.to_thread(self.delete_secret)
