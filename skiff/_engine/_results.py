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


# The result-record format skiff writes is Prefect 3.9.1's (DESIGN.md, "Results"); a
# Prefect reader decides by this field how to read the record.
RECORD_FORMAT_VERSION = "3.9.1"


def local_storage_path() -> str:
    """Prefect's local result storage: ``PREFECT_LOCAL_STORAGE_PATH``, else PREFECT_HOME/storage."""
    configured = os.environ.get("PREFECT_LOCAL_STORAGE_PATH")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    home = os.environ.get("PREFECT_HOME") or os.path.join("~", ".prefect")
    return os.path.abspath(os.path.join(os.path.expanduser(home), "storage"))


def _pickle(value: Any) -> bytes:
    try:
        import cloudpickle  # type: ignore[import-not-found]
    except ImportError:
        # cloudpickle.loads is pickle.loads: a plain pickle reads back the same way.
        return pickle.dumps(value)
    return cloudpickle.dumps(value)  # type: ignore[no-any-return]


def write_record(value: Any, folder: str | None = None) -> dict[str, Any] | None:
    """Persist ``value`` as a Prefect result record; its metadata, or None if it failed.

    The file is JSON ``{"metadata": ..., "result": base64(pickle)}`` named by a random
    key, the metadata is what a state's ``data`` carries to the server.
    """
    import base64
    import json
    import uuid

    directory = folder or local_storage_path()
    path = os.path.join(directory, uuid.uuid4().hex)
    metadata = {
        "storage_key": path,
        "expiration": None,
        "serializer": {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None},
        "prefect_version": RECORD_FORMAT_VERSION,
        "storage_block_id": None,
    }
    try:
        result = base64.encodebytes(_pickle(value)).decode()
        os.makedirs(directory, exist_ok=True)
        with open(path + ".tmp", "w") as out:
            json.dump({"metadata": metadata, "result": result}, out)
        os.replace(path + ".tmp", path)
    except Exception as exc:  # an unpicklable value or a full disk must not stop the run
        import logging

        logging.getLogger("skiff").warning(
            "Encountered an error while persisting result: %s Execution will continue, but"
            " the result has not been persisted",
            exc,
        )
        return None
    return metadata


def flow_result_data(engine: Any, state: Any) -> dict[str, Any] | None:
    """The ``data`` a flow's final state carries, as Prefect's engine sets it.

    Prefect persists a flow's exception whenever the flow raised, and its return value
    when the flow has ``persist_result=True``; the server shows such data as a result
    artifact of the run. Other states carry none.
    """
    if not engine.settings.reporting:
        return None
    data = state._data
    if state.is_failed() and state.name == "Failed" and isinstance(data, Exception):
        return write_record(data)
    if state.is_completed() and engine.flow.options.get("persist_result"):
        return write_record(state.result())
    return None
