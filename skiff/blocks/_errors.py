"""Errors raised by skiff.blocks, all under :class:`skiff.SkiffError`.

Messages name fields, slugs and key ids, never values: a secret must not reach a log line
through an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skiff._exceptions import SkiffError, ValidationError

__all__ = [
    "BlockAlreadyExistsError",
    "BlockError",
    "BlockNotFoundError",
    "BlockValidationError",
    "DecryptionError",
    "ObfuscatedSecretError",
    "UnknownBlockTypeError",
]


class BlockError(SkiffError):
    """Base of the block errors."""


class BlockNotFoundError(BlockError, LookupError):
    """No block document with this name exists for the block type."""


class UnknownBlockTypeError(BlockError, LookupError):
    """The slug names no block type, on the server or among the imported block classes."""


class BlockAlreadyExistsError(BlockError):
    """``save(name)`` found a document with that name; pass ``overwrite=True`` to replace it."""


class ObfuscatedSecretError(BlockError):
    """A secret field holds the server's ``********`` placeholder instead of a real value."""


class DecryptionError(BlockError):
    """An encrypted secret cannot be decrypted: no key, the wrong key, or damaged ciphertext."""


class BlockValidationError(ValidationError):
    """Block data does not fit the block's fields; ``errors`` lists ``(field, message)`` pairs.

    Built from pydantic's errors without their input values, so secrets never show.
    """

    def __init__(self, block: str, errors: Sequence[tuple[str, str]]) -> None:
        self.block = block
        self.errors = list(errors)
        lines = "; ".join(f"{field}: {message}" for field, message in self.errors)
        super().__init__(f"invalid {block} data: {lines}")

    @classmethod
    def from_pydantic(cls, block: str, error: Any) -> BlockValidationError:
        """Wrap a ``pydantic.ValidationError``, keeping only locations and messages."""
        pairs = [
            (".".join(str(part) for part in item["loc"]) or "<block>", item["msg"])
            for item in error.errors(include_input=False, include_url=False)
        ]
        return cls(block, pairs)
