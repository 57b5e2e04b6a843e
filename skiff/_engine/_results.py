"""Where cached task results live: process memory by default, a folder only when asked.

A result is looked up by the key ``cache_key_fn`` returned. The memory store survives
between flow runs of one process (a warm Lambda reuses it). With ``persist_result=True``
or ``result_storage="some/folder"`` results are also pickled into that folder
(``~/.skiff/storage`` when only ``persist_result`` is given), so another process can reuse
them; nothing touches the disk otherwise.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
import time
from typing import Any

__all__ = ["ResultStore", "default_store", "folder_store"]

_MISSING: Any = object()


class ResultStore:
    """A key → (value, expiry) map, optionally mirrored to files in ``folder``."""

    def __init__(self, folder: str | None = None) -> None:
        self.folder = folder
        self._memory: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        """The stored value, or ``MISSING`` when absent or expired."""
        with self._lock:
            found = self._memory.get(key)
        if found is None and self.folder is not None:
            found = self._read(key)
        if found is None:
            return _MISSING
        value, expires = found
        if expires is not None and time.time() >= expires:
            return _MISSING
        return value

    def put(self, key: str, value: Any, expires: float | None) -> None:
        """Store ``value`` under ``key`` until the ``expires`` epoch time (None: forever)."""
        with self._lock:
            self._memory[key] = (value, expires)
        if self.folder is not None:
            os.makedirs(self.folder, exist_ok=True)
            path = self._path(key)
            with open(path + ".tmp", "wb") as out:
                pickle.dump((value, expires), out)
            os.replace(path + ".tmp", path)

    def _path(self, key: str) -> str:
        assert self.folder is not None
        return os.path.join(self.folder, hashlib.sha256(key.encode()).hexdigest())

    def _read(self, key: str) -> tuple[Any, float | None] | None:
        try:
            with open(self._path(key), "rb") as src:
                found: tuple[Any, float | None] = pickle.load(src)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None
        return found


MISSING = _MISSING
default_store = ResultStore()
_folders: dict[str, ResultStore] = {}


def folder_store(folder: str | None) -> ResultStore:
    """The store mirrored to ``folder`` (``~/.skiff/storage`` for None)."""
    path = os.path.abspath(os.path.expanduser(folder or os.path.join("~", ".skiff", "storage")))
    store = _folders.get(path)
    if store is None:
        store = _folders.setdefault(path, ResultStore(path))
    return store
