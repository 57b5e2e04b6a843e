"""What the storage blocks share: the file-system bases, their errors and path joining.

A storage block reads and writes whole objects by path (``read_path``/``write_path``), which
is all that Prefect's result store asks of one. The async twins run the same synchronous
call in a worker thread, as prefect-aws and prefect-gcp do, so there is one code path.

The tree, under :class:`skiff.SkiffError`::

    StorageError                reading or writing through a storage block failed
    ├── StoragePathError            the path leaves the block's base folder; a ValueError
    ├── StorageAuthError            credentials missing, or refused by the service
    ├── BucketNotFoundError         no bucket (container, base folder) of that name; a LookupError
    └── ObjectNotFoundError         no object at that path; a LookupError

Messages name buckets, paths and the service's error code, never a credential.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, ClassVar

import pydantic
import pydantic_core

from skiff._exceptions import SkiffError
from skiff.blocks._core import Block, _reveal

__all__ = [
    "BucketNotFoundError",
    "ObjectNotFoundError",
    "ReadableFileSystem",
    "StorageAuthError",
    "StorageError",
    "StoragePathError",
    "WritableFileSystem",
    "cached_client",
    "join_under",
    "refuse_parent_refs",
    "tag_with_slug",
]

_CLIENTS_MAX = 16
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()

# What Prefect's file-system and deployment-storage bases declare; the schema row registered
# for a storage block carries them, and must be the row Prefect would register.
STORAGE_CAPABILITIES = ["get-directory", "put-directory", "read-path", "write-path"]


class StorageError(SkiffError):
    """Reading or writing through a storage block failed (the message names the fix)."""


class StoragePathError(StorageError, ValueError):
    """The path resolves outside the block's base folder (``..``, or an absolute path)."""


class StorageAuthError(StorageError):
    """No credentials were found, or the service refused them."""


class BucketNotFoundError(StorageError, LookupError):
    """The bucket or container the block names does not exist."""


class ObjectNotFoundError(StorageError, LookupError):
    """Nothing is stored at the path (a result store reads this as a cache miss)."""


class ReadableFileSystem(Block, abc.ABC):
    """A block that reads whole objects by path (Prefect's ``ReadableFileSystem``)."""

    _block_schema_capabilities: ClassVar[list[str] | None] = ["read-path"]

    @abc.abstractmethod
    def read_path(self, path: str) -> bytes:
        """The bytes stored at ``path``; :class:`ObjectNotFoundError` when there are none."""

    async def aread_path(self, path: str) -> bytes:
        """:meth:`read_path` in a worker thread."""
        return await asyncio.to_thread(self.read_path, path)


class WritableFileSystem(ReadableFileSystem):
    """A block that reads and writes whole objects by path (Prefect's ``WritableFileSystem``)."""

    _block_schema_capabilities: ClassVar[list[str] | None] = ["read-path", "write-path"]

    @abc.abstractmethod
    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path`` (replacing what was there); return where it went."""

    async def awrite_path(self, path: str, content: bytes) -> str:
        """:meth:`write_path` in a worker thread."""
        return await asyncio.to_thread(self.write_path, path, content)


def refuse_parent_refs(path: str, what: str) -> None:
    """Raise :class:`StoragePathError` if ``path`` has a ``..`` part (it would leave ``what``)."""
    if ".." in PurePosixPath(path).parts:
        raise StoragePathError(
            f"path {path!r} contains '..', which would leave {what}; "
            "pass a path relative to it, without '..'"
        )


def join_under(folder: str, path: str, what: str) -> str:
    """``folder/path`` as a POSIX key, refusing a path that would leave ``folder``.

    Joined as ``pathlib`` joins (``.`` and repeated slashes collapse, as in Prefect's
    blocks); ``..`` is refused anywhere, because object stores keep it literally, and so is
    an absolute path outside ``folder``. Without a folder, ``path`` is the key as given.
    ``what`` names the block's folder field in the message.
    """
    refuse_parent_refs(path, what)
    if not folder:
        return path
    joined = PurePosixPath(folder, path)
    base = PurePosixPath(folder)
    if joined != base and base not in joined.parents:
        raise StoragePathError(
            f"path {path!r} is outside {what} {folder!r}; pass a path relative to it"
        )
    return joined.as_posix()


def tag_with_slug(value: Any, handler: pydantic.SerializerFunctionWrapHandler) -> Any:
    """A nested credentials block dumped with its ``block_type_slug``, as Prefect saves it.

    prefect-aws picks the credentials class of a union by that key when it loads.
    """
    data = handler(value)
    if isinstance(data, dict) and isinstance(value, Block):
        data["block_type_slug"] = value.get_block_type_slug()
    return data


def cached_client(credentials: Block, service: str, build: Callable[[], Any]) -> Any:
    """The SDK client ``build()`` makes for these credentials, made once per process.

    Keyed by a digest of the credentials' values (so a changed block gets a new client, and
    no secret is kept as a key); at most a few are kept, the oldest dropped first.
    """
    values = pydantic_core.to_jsonable_python(_reveal(credentials.model_dump(mode="python")))
    text = json.dumps([type(credentials).__qualname__, service, values], sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()
    with _clients_lock:
        client = _clients.get(key)
    if client is not None:
        return client
    client = build()  # outside the lock: building may read files or call STS
    with _clients_lock:
        if len(_clients) >= _CLIENTS_MAX:
            _clients.pop(next(iter(_clients)))
        return _clients.setdefault(key, client)
