"""``LocalFileSystem`` (slug ``local-file-system``), interchangeable with ``prefect.filesystems``.

Also exports the bases a custom storage block subclasses, under Prefect's names.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any, Optional

from pydantic import Field, field_validator

from skiff.client._constants import SERVER_VERSION
from skiff.integrations._storage import (
    STORAGE_CAPABILITIES,
    ObjectNotFoundError,
    ReadableFileSystem,
    StorageError,
    StoragePathError,
    WritableFileSystem,
)

__all__ = ["LocalFileSystem", "ReadableFileSystem", "WritableFileSystem"]


class LocalFileSystem(WritableFileSystem):
    """
    Store data as a file on a local file system.

    Example:
        ```python
        from skiff.blocks import LocalFileSystem

        storage = LocalFileSystem(basepath="~/.prefect/storage")
        storage.write_path("greeting", b"hello")
        ```

    Paths are relative to ``basepath`` (the working directory when unset); one that
    resolves outside it raises :class:`StoragePathError`, as Prefect refuses it.
    """

    _block_type_name = "Local File System"
    _logo_url = "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png"
    _documentation_url = (
        "https://www.prefect.io/docs/latest/develop/results#specifying-a-default-filesystem"
    )
    _block_schema_capabilities = STORAGE_CAPABILITIES
    # The block ships in prefect itself, so its schema row carries prefect's version.
    _block_schema_version = SERVER_VERSION

    basepath: Optional[str] = Field(  # noqa: UP045 (schema parity)
        default=None, description="Default local path for this block to write to."
    )

    @field_validator("basepath", mode="before")
    @classmethod
    def _fspath(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def _base(self) -> Path:
        return Path(self.basepath or ".").expanduser().resolve()

    def resolve_path(self, path: str) -> Path:
        """The absolute file ``path`` names: relative to ``basepath``, ``~`` expanded.

        The same path Prefect's ``LocalFileSystem._resolve_path`` gives; one outside
        ``basepath`` raises :class:`StoragePathError`.
        """
        base = self._base()
        resolved = Path(path).expanduser()
        if not resolved.is_absolute():
            resolved = base / resolved
        resolved = resolved.resolve()
        if resolved != base and base not in resolved.parents:
            raise StoragePathError(
                f"path {path!r} resolves to {str(resolved)!r}, outside basepath {str(base)!r} "
                "of the LocalFileSystem block; pass a path under basepath"
            )
        return resolved

    def read_path(self, path: str) -> bytes:
        """The contents of the file at ``path``."""
        target = self.resolve_path(path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no file {str(target)!r} (LocalFileSystem)") from None
        except IsADirectoryError:
            raise StorageError(
                f"{str(target)!r} is a directory, not a file; read a file path"
            ) from None
        except OSError as error:
            raise StorageError(f"cannot read {str(target)!r}: {error.strerror}") from error

    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` to the file at ``path`` (folders are created); return its path.

        The file is replaced whole (written aside, then renamed), so a concurrent reader sees
        the old contents or the new, never a part.
        """
        target = self.resolve_path(path)
        if target.is_dir():
            raise StorageError(
                f"{str(target)!r} already exists and is a directory; write to a file path"
            )
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_bytes(content)
            os.replace(scratch, target)
        except OSError as error:
            with contextlib.suppress(OSError):
                scratch.unlink(missing_ok=True)
            raise StorageError(
                f"cannot write {str(target)!r}: {error.strerror}; check basepath and its "
                "permissions"
            ) from error
        return str(target)
