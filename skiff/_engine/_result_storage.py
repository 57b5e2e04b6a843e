"""Where result records live, and how concurrent writers of one record are kept apart.

``result_storage`` (the task's, else its flow's) resolves as Prefect 3.9.1's ``results.py``
resolves it:

- a storage block (``S3Bucket``, ``GcsBucket``, ``AzureBlobStorageContainer``,
  ``LocalFileSystem``, or any block with ``read_path``/``write_path``): used as it is;
- a block slug ``"s3-bucket/name"`` (a string with one ``/``, not starting with ``.``,
  ``/`` or ``~``): loaded from the server once per process;
- any other string, or a path: a local folder (write ``./results/x`` for a relative one);
- nothing: ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` (a slug), else the server's default
  result storage (``GET /admin/storage``, read once per process and API URL; a server that
  cannot be asked means local storage, as in Prefect), else Prefect's local storage folder.

A record's ``storage_key`` is the key as Prefect records it: the key itself on a block
loaded from (or saved to) the server, whose id goes in ``storage_block_id``; otherwise the
block's resolved path (``bucket_folder/key``, an absolute file path; Azure's key as given).

Isolation, for runs that write the same key at the same time:

- S3 and local files: write-once commits. A record is created only where none exists
  (S3 ``PutObject`` with ``If-None-Match: *``, which moto's server honours; a local file by
  an exclusive hard link of a fully written scratch file), so writers cannot interleave or
  overwrite one another, and every run after the first commit reads that one value.
  Overlapping runs may each execute the function (each keeps its own value; the store keeps
  the first), unless the policy asks ``isolation_level="SERIALIZABLE"``: then a run also
  holds a lock object ``<key>.lock`` from its cache miss until it ends, and an overlapping
  run waits for it, looks again and is Cached (:mod:`skiff._engine._record_locks`: leases,
  takeover, the wait). An expired or unreadable record, ``refresh_cache`` and an explicit
  ``isolation_level="READ_COMMITTED"`` replace the record instead, and so does a local file
  system without hard links.
- GCS, Azure Blob and other blocks: READ_COMMITTED, Prefect's default. Writes replace the
  whole object (readers never see a part of one); the last writer wins, and there is no
  lock. A policy asking for SERIALIZABLE there is logged once and runs READ_COMMITTED
  (unless it has a ``lock_manager``, which then serializes the runs).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

from skiff._engine._results import ResultStorageError

__all__ = [
    "BlockStorage",
    "FolderStorage",
    "RecordStorage",
    "default_storage",
    "local_storage_path",
    "resolve_storage",
    "storage_configured",
]

# "type-slug/document-name", as Block.load takes it.
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*/[^/]+$")
# The block modules that define each storage slug (a slug loads only once its class exists).
_SLUG_MODULES = {
    "s3-bucket": "skiff.integrations.aws.s3",
    "gcs-bucket": "skiff.integrations.gcp.cloud_storage",
    "azure-blob-storage-container": "skiff.integrations.azure.blob_storage",
    "local-file-system": "skiff.integrations.filesystems",
}

_lock = threading.Lock()
_loaded: dict[str, RecordStorage] = {}
_defaults: dict[tuple[str, str], RecordStorage] = {}


def local_storage_path() -> str:
    """Prefect's local result storage: ``PREFECT_LOCAL_STORAGE_PATH``, else PREFECT_HOME/storage."""
    configured = os.environ.get("PREFECT_LOCAL_STORAGE_PATH")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    home = os.environ.get("PREFECT_HOME") or os.path.join("~", ".prefect")
    return os.path.abspath(os.path.join(os.path.expanduser(home), "storage"))


def storage_configured() -> bool:
    """Whether a flow's records have somewhere to go when it sets no ``result_storage``.

    Prefect's local storage counts when configured or when ``~/.prefect`` exists; where
    neither holds (a Lambda sandbox, whose home is read-only) only a default storage block
    does (the setting, or the server's): nothing would ever read a record elsewhere.
    """
    if os.environ.get("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK") or os.environ.get(
        "PREFECT_LOCAL_STORAGE_PATH"
    ):
        return True
    if os.environ.get("PREFECT_HOME") or os.path.isdir(os.path.expanduser("~/.prefect")):
        return True
    return not isinstance(default_storage(), FolderStorage)


class RecordStorage:
    """Whole-object reads and writes of records by key, on one storage."""

    block_id: uuid.UUID | None = None
    #: Whether :meth:`create` is a conditional (write-once) write here.
    serializable = False

    def storage_key(self, key: str) -> str:
        """The key as a record's metadata names it (Prefect's ``storage_key``)."""
        raise NotImplementedError

    def read(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; None when nothing is."""
        raise NotImplementedError

    def write(self, key: str, content: bytes) -> None:
        """Store ``content`` under ``key``, replacing what was there."""
        raise NotImplementedError

    def create(self, key: str, content: bytes) -> bool:
        """Store ``content`` under ``key`` unless something is there; whether it was stored."""
        self.write(key, content)
        return True


class FolderStorage(RecordStorage):
    """A local folder: Prefect's local storage, a path given, or a ``LocalFileSystem`` block."""

    serializable = True

    def __init__(self, folder: str, block_id: uuid.UUID | None = None) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.block_id = block_id

    def __repr__(self) -> str:
        return f"local folder {str(self.folder)!r}"

    def path(self, key: str) -> Path:
        """The absolute path of ``key``, refused outside the folder."""
        path = Path(key) if os.path.isabs(key) else self.folder / key
        resolved = path.resolve()
        if resolved != self.folder and self.folder not in resolved.parents:
            raise ValueError(f"record key {key!r} is outside the result folder {self!r}")
        return resolved

    def storage_key(self, key: str) -> str:
        # Prefect's LocalFileSystem records the absolute path unless the block was saved.
        return key if self.block_id is not None else str(self.path(key))

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _scratch(self, key: str, content: bytes) -> tuple[Path, Path]:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        scratch.write_bytes(content)
        return target, scratch

    def write(self, key: str, content: bytes) -> None:
        target, scratch = self._scratch(key, content)
        try:
            os.replace(scratch, target)  # readers see the old record or the new, never a part
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink(missing_ok=True)

    def create(self, key: str, content: bytes) -> bool:
        target, scratch = self._scratch(key, content)
        try:
            os.link(scratch, target)  # fails if the target exists: an exclusive, whole create
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: replace (READ_COMMITTED)
            os.replace(scratch, target)
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink(missing_ok=True)
        return True


class BlockStorage(RecordStorage):
    """A storage block with ``read_path``/``write_path`` (and, for S3, ``create_path``)."""

    def __init__(self, block: Any) -> None:
        self.block = block
        self.block_id = getattr(block, "_block_document_id", None)
        self.serializable = callable(getattr(block, "create_path", None))

    def __repr__(self) -> str:
        name = getattr(self.block, "_block_document_name", None)
        kind = type(self.block).__name__
        return f"{kind} block {name!r}" if name else f"{kind} block"

    def storage_key(self, key: str) -> str:
        resolve = getattr(self.block, "resolve_path", None)
        if self.block_id is not None or resolve is None or _keeps_keys(self.block):
            return key
        return str(resolve(key))

    def read(self, key: str) -> bytes | None:
        from skiff.integrations._storage import ObjectNotFoundError

        try:
            content: bytes = self.block.read_path(key)
        except ObjectNotFoundError:
            return None
        return content

    def write(self, key: str, content: bytes) -> None:
        self.block.write_path(key, content)

    def create(self, key: str, content: bytes) -> bool:
        if not self.serializable:
            return super().create(key, content)
        created: bool = self.block.create_path(key, content)
        return created


def _keeps_keys(block: Any) -> bool:
    # prefect-azure's container has no _resolve_path, so Prefect records the key as given.
    from skiff.integrations.azure.blob_storage import AzureBlobStorageContainer

    return isinstance(block, AzureBlobStorageContainer)


def _from_block(block: Any) -> RecordStorage:
    from skiff.integrations.filesystems import LocalFileSystem

    if isinstance(block, LocalFileSystem):
        return FolderStorage(str(block.resolve_path(".")), block._block_document_id)
    return BlockStorage(block)


def _load_slug(slug: str) -> RecordStorage:
    with _lock:
        cached = _loaded.get(slug)
    if cached is not None:
        return cached
    import importlib

    from skiff.blocks import Block

    module = _SLUG_MODULES.get(slug.split("/", 1)[0])
    if module is not None:
        importlib.import_module(module)
    block = Block.load(slug)
    if not callable(getattr(block, "write_path", None)):
        raise ResultStorageError(
            f"block {slug!r} is a {type(block).__name__}, which cannot store results; "
            "use a storage block (s3-bucket, gcs-bucket, azure-blob-storage-container, "
            "local-file-system)"
        )
    storage = _from_block(block)
    with _lock:
        return _loaded.setdefault(slug, storage)


def resolve_storage(spec: Any) -> RecordStorage:
    """The storage ``result_storage`` names (see the module docstring); None: the default."""
    if spec is None:
        return default_storage()
    if isinstance(spec, RecordStorage):
        return spec
    if isinstance(spec, str) and _SLUG.match(spec) and not spec.startswith((".", "~")):
        return _load_slug(spec)
    if isinstance(spec, (str, os.PathLike)):
        return FolderStorage(os.fspath(spec))
    return _from_block(spec)


def _server_default_block(api_url: str) -> str | None:
    """The slug of the server's default result storage block, or None (also when unreachable)."""
    import logging

    from skiff._exceptions import APIError
    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

    # One quick try: a server that cannot say means local storage, as in Prefect.
    transport = Transport(Settings.load(api_url=api_url, max_retries=0, request_timeout=3.0))
    try:
        block_id = (
            transport.request("GET", "/admin/storage").json().get("default_result_storage_block_id")
        )
        if not block_id:
            return None
        document = transport.request("GET", f"/block_documents/{block_id}").json()
    except (APIError, ValueError) as exc:
        logging.getLogger("skiff").debug(
            "Unable to read server default result storage; falling back to local defaults: %s",
            exc,
        )
        return None
    finally:
        transport.close()
    return f"{document['block_type']['slug']}/{document['name']}"


def default_storage() -> RecordStorage:
    """Where records go when no ``result_storage`` is set (see the module docstring)."""
    configured = os.environ.get("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK")
    if configured:
        return _load_slug(configured)
    from skiff.client._settings import Settings

    settings = Settings.load()
    api_url = settings.api_url if settings.reporting else None
    local = local_storage_path()
    cache_key = (api_url or "", local)
    with _lock:
        cached = _defaults.get(cache_key)
    if cached is not None:
        return cached
    slug = _server_default_block(api_url) if api_url else None
    storage = _load_slug(slug) if slug else FolderStorage(local)
    with _lock:
        return _defaults.setdefault(cache_key, storage)
