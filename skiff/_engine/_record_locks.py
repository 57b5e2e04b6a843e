"""Locks on cache keys, for task runs whose cache policy asks ``isolation_level="SERIALIZABLE"``.

A run takes the lock on its key after a cache miss, looks the record up again (a run that
held the lock before it may have committed one: then this run is Cached), and keeps the
lock until its own record is committed or it ends; so overlapping runs of one key call the
function once. Where the lock lives:

- the policy's ``lock_manager``, when it has one (any object with Prefect's
  ``acquire_lock(key, holder, acquire_timeout, hold_timeout)`` and
  ``release_lock(key, holder)``);
- else a lock object ``<key>.lock`` beside the record, on storages with conditional
  writes: S3 (created with ``If-None-Match: *``, taken over with ``If-Match``, deleted with
  ``If-Match``) and local folders (created by an exclusive hard link, taken over by an
  atomic rename). Its body names the holder and the lease's end, so a crashed holder's lock
  expires and is taken over.

A lock that stays held longer than ``SKIFF_CACHE_LOCK_WAIT_SECONDS`` (default: the lease),
or a storage that cannot be asked, means the run goes on without it (logged): a cache never
fails a run. So does a lock held by a run in the same thread (async tasks of one event
loop), which a blocking wait would stop too. The lease is ``SKIFF_CACHE_LOCK_LEASE_SECONDS`` (default 300), or the task's
``timeout_seconds`` plus 30 when longer; a run outlasting it may be overlapped, and the
write-once commit still keeps the first record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

__all__ = ["DEFAULT_LEASE_SECONDS", "Lock", "acquire", "held_in_this_thread", "lock_store"]

DEFAULT_LEASE_SECONDS = 300.0
# Polling while another run holds the lock: from 50 ms, doubling, at most 1 s apart.
_FIRST_POLL = 0.05
_MAX_POLL = 1.0

# The keys whose locks runs of this process hold, and each holder's thread.
_held_lock = threading.Lock()
_held: dict[str, int] = {}


class LockStore(Protocol):
    """Conditional operations on small lock objects, by name, on one storage."""

    def create(self, name: str, body: bytes) -> bool:
        """Store ``body`` unless something is there; whether it was stored."""

    def read(self, name: str) -> tuple[bytes, str] | None:
        """The body stored under ``name`` and a tag naming that version; None if none."""

    def replace(self, name: str, body: bytes, tag: str) -> bool:
        """Store ``body`` if the version there is still ``tag``; whether it was stored."""

    def delete(self, name: str, tag: str) -> None:
        """Delete the version ``tag`` (nothing if another is there)."""


class _FolderLocks:
    def __init__(self, path: Any) -> None:
        self._path = path  # FolderStorage's key -> checked absolute path

    @staticmethod
    def _tag(content: bytes) -> str:
        return hashlib.sha256(content).hexdigest()

    def create(self, name: str, body: bytes) -> bool:
        target: Path = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        scratch.write_bytes(body)
        try:
            os.link(scratch, target)  # readers never see a lock file half written
        except FileExistsError:
            return False
        except OSError:  # no hard links here: an exclusive create, then the body
            try:
                fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as file:
                file.write(body)
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink()
        return True

    def read(self, name: str) -> tuple[bytes, str] | None:
        try:
            content: bytes = self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        return content, self._tag(content)

    def _take(self, name: str, tag: str) -> bool:
        # Move the lock aside atomically (one mover wins); if it was not version `tag`,
        # put it back unless a new lock was made meanwhile.
        target: Path = self._path(name)
        aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        try:
            if self._tag(aside.read_bytes()) == tag:
                return True
            with contextlib.suppress(OSError):
                os.link(aside, target)
            return False
        finally:
            with contextlib.suppress(OSError):
                aside.unlink()

    def replace(self, name: str, body: bytes, tag: str) -> bool:
        return self._take(name, tag) and self.create(name, body)

    def delete(self, name: str, tag: str) -> None:
        self._take(name, tag)


class _BlockLocks:
    def __init__(self, block: Any) -> None:
        self._block = block

    def create(self, name: str, body: bytes) -> bool:
        created: bool = self._block.create_path(name, body)
        return created

    def read(self, name: str) -> tuple[bytes, str] | None:
        from skiff.integrations._storage import ObjectNotFoundError

        try:
            content, etag = self._block.read_path_with_etag(name)
        except ObjectNotFoundError:
            return None
        return content, etag

    def replace(self, name: str, body: bytes, tag: str) -> bool:
        replaced: bool = self._block.replace_path(name, body, tag)
        return replaced

    def delete(self, name: str, tag: str) -> None:
        self._block.delete_path(name, etag=tag)


_BLOCK_METHODS = ("create_path", "read_path_with_etag", "replace_path", "delete_path")


def lock_store(storage: Any) -> LockStore | None:
    """Where ``storage`` (a record storage) keeps lock objects; None if it cannot."""
    from skiff._engine._result_storage import BlockStorage, FolderStorage

    if isinstance(storage, FolderStorage):
        return _FolderLocks(storage.path)
    if isinstance(storage, BlockStorage) and all(
        callable(getattr(storage.block, name, None)) for name in _BLOCK_METHODS
    ):
        return _BlockLocks(storage.block)
    return None


class Lock:
    """A held lock on one cache key; :meth:`release` gives it up (once, never raising)."""

    def __init__(self, release: Any) -> None:
        self._release = release

    def release(self) -> None:
        """Give the lock up (a lock already lost or expired is left alone)."""
        release, self._release = self._release, None
        if release is not None:
            release()


def _body(holder: str, lease: float) -> bytes:
    return json.dumps({"holder": holder, "expires": time.time() + lease}).encode()


def _expires(content: bytes) -> float:
    # An unreadable lock body counts as expired: nothing could ever release it.
    try:
        expires = json.loads(content)["expires"]
    except (ValueError, TypeError, KeyError):
        return 0.0
    return float(expires) if isinstance(expires, (int, float)) else 0.0


def _storage_lock(
    store: LockStore, name: str, holder: str, lease: float, wait: float
) -> Callable[[], None] | None:
    deadline = time.monotonic() + wait
    poll = _FIRST_POLL
    while True:
        body = _body(holder, lease)
        if store.create(name, body):
            break
        current = store.read(name)
        left = _FIRST_POLL  # released or taken over meanwhile: look again soon
        if current is not None:
            left = _expires(current[0]) - time.time()
            if left <= 0:
                if store.replace(name, body, current[1]):
                    break
                left = _FIRST_POLL
        now = time.monotonic()
        if now >= deadline:
            return None
        time.sleep(min(poll, deadline - now, left))
        poll = min(poll * 2, _MAX_POLL)

    def release() -> None:
        current = store.read(name)
        if current is not None and current[0] == body:
            store.delete(name, current[1])

    return release


def held_in_this_thread(key: str) -> bool:
    """Whether a run in this thread holds ``key``'s lock (waiting on it could never end).

    Async tasks of one event loop share its thread, and a blocking wait would stop the
    holder too.
    """
    with _held_lock:
        return _held.get(key) == threading.get_ident()


def acquire(
    key: str, *, store: LockStore | None, manager: Any, lease: float, wait: float
) -> Lock | None:
    """The lock on ``key`` (the policy's ``manager``, else in ``store``); None if not in time.

    One of ``manager`` and ``store`` is given. Raises what the storage raises; the caller
    logs it and runs without the lock.
    """
    holder = f"skiff:{os.getpid()}:{uuid.uuid4().hex}"
    release: Callable[[], None] | None
    if manager is not None:
        if not manager.acquire_lock(key, holder=holder, acquire_timeout=wait, hold_timeout=lease):
            return None

        def release() -> None:
            manager.release_lock(key, holder=holder)

    else:
        assert store is not None
        release = _storage_lock(store, f"{key}.lock", holder, lease, wait)
        if release is None:
            return None
    thread = threading.get_ident()
    with _held_lock:
        _held[key] = thread

    def forget_and_release() -> None:
        with _held_lock:
            if _held.get(key) == thread:
                del _held[key]
        assert release is not None
        release()

    return Lock(forget_and_release)
