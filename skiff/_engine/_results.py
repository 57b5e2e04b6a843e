"""Result records: persisted results in Prefect 3.9.1's format, for caching and for the UI.

A record is a JSON file ``{"metadata": {...}, "result": <serialized value>}`` (DESIGN.md,
"Results"); its metadata is what a state's ``data`` carries to the server, which shows it
as the run's result artifact. A task's record is named by its cache key, so a later run
(of skiff or of Prefect, on the same storage) with the same key is a cache hit; a flow's
by a random key. Storage is a folder: the task's or flow's ``result_storage`` when given,
else Prefect's local storage (``PREFECT_LOCAL_STORAGE_PATH``, else
``PREFECT_HOME/storage``). Cloud storage comes with the integrations.

Serializers: ``"pickle"`` (the default; cloudpickle when installed, else the standard
pickle, which cloudpickle reads the same way) and ``"json"``.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import pickle
import uuid
from typing import Any

__all__ = [
    "MISSING",
    "flow_result_data",
    "local_storage_available",
    "local_storage_path",
    "read_record",
    "write_record",
]

# The result-record format skiff writes is Prefect 3.9.1's; a Prefect reader decides by
# this field how to read the record.
RECORD_FORMAT_VERSION = "3.9.1"

MISSING: Any = object()
logger = logging.getLogger("skiff")

_PICKLE = {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None}
_JSON = {
    "type": "json",
    "jsonlib": "json",
    "object_encoder": "prefect.serializers.prefect_json_object_encoder",
    "object_decoder": "prefect.serializers.prefect_json_object_decoder",
    "dumps_kwargs": {},
    "loads_kwargs": {},
}


def local_storage_path() -> str:
    """Prefect's local result storage: ``PREFECT_LOCAL_STORAGE_PATH``, else PREFECT_HOME/storage."""
    configured = os.environ.get("PREFECT_LOCAL_STORAGE_PATH")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    home = os.environ.get("PREFECT_HOME") or os.path.join("~", ".prefect")
    return os.path.abspath(os.path.join(os.path.expanduser(home), "storage"))


def local_storage_available() -> bool:
    """Whether Prefect's local storage is in use here: configured, or ``~/.prefect`` exists.

    Where neither holds (a Lambda sandbox, whose home is read-only) flows' result records
    are not written: nothing would ever read them, and writing outside /tmp can fail.
    """
    return bool(
        os.environ.get("PREFECT_LOCAL_STORAGE_PATH")
        or os.environ.get("PREFECT_HOME")
        or os.path.isdir(os.path.expanduser(os.path.join("~", ".prefect")))
    )


def _folder(storage: str | None) -> str:
    return os.path.abspath(os.path.expanduser(storage)) if storage else local_storage_path()


def _dumps(value: Any, serializer: str) -> str:
    if serializer == "json":
        from skiff._engine._hashing import prefect_json_object_encoder

        return json.dumps(value, default=prefect_json_object_encoder)
    try:
        import cloudpickle
    except ImportError:
        return base64.encodebytes(pickle.dumps(value)).decode()
    return base64.encodebytes(cloudpickle.dumps(value)).decode()


def _loads(text: str, serializer: dict[str, Any]) -> Any:
    if serializer.get("type") == "json":
        return json.loads(text)
    return pickle.loads(base64.decodebytes(text.encode()))


def write_record(
    value: Any,
    *,
    key: str | None = None,
    storage: str | None = None,
    serializer: str = "pickle",
    expiration: datetime.datetime | None = None,
) -> dict[str, Any] | None:
    """Persist ``value`` as a record named ``key`` (random when None); its metadata.

    None when it could not be written (an unpicklable value, a full disk): that is
    logged, as Prefect logs it, and the run goes on.
    """
    folder = _folder(storage)
    path = os.path.join(folder, key or uuid.uuid4().hex)
    metadata = {
        "storage_key": path,
        "expiration": expiration.isoformat() if expiration is not None else None,
        "serializer": _JSON if serializer == "json" else _PICKLE,
        "prefect_version": RECORD_FORMAT_VERSION,
        "storage_block_id": None,
    }
    try:
        record = json.dumps({"metadata": metadata, "result": _dumps(value, serializer)})
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as out:
            out.write(record)
        os.replace(path + ".tmp", path)
    except Exception as exc:
        logger.warning(
            "Encountered an error while persisting result: %s Execution will continue, but"
            " the result has not been persisted",
            exc,
        )
        return None
    return metadata


def read_record(key: str, storage: str | None = None) -> Any:
    """The value of the unexpired record named ``key``, or :data:`MISSING`."""
    path = os.path.join(_folder(storage), key)
    try:
        with open(path) as src:
            record = json.load(src)
        metadata = record["metadata"]
        expiration = metadata.get("expiration")
        if expiration is not None:
            when = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
            if when <= datetime.datetime.now(datetime.timezone.utc):
                return MISSING
        return _loads(record["result"], metadata.get("serializer") or {})
    except FileNotFoundError:
        return MISSING
    except Exception as exc:  # a corrupt or foreign record is a miss, not a failure
        logger.warning("skiff could not read the result record %s: %s", path, exc)
        return MISSING


def flow_result_data(engine: Any, state: Any) -> dict[str, Any] | None:
    """The ``data`` a flow's final state carries, as Prefect's engine sets it.

    Prefect persists a flow's exception whenever the flow raised, and its return value
    when the flow has ``persist_result=True``; the server shows such data as a result
    artifact of the run. Other states carry none.
    """
    flow = engine.flow
    if not engine.settings.reporting or not (
        flow.options.get("result_storage") or local_storage_available()
    ):
        return None
    data = state._data
    storage = flow.options.get("result_storage")
    if state.is_failed() and state.name == "Failed" and isinstance(data, Exception):
        return write_record(data, storage=storage)
    if state.is_completed() and flow.options.get("persist_result"):
        serializer = flow.options.get("result_serializer") or "pickle"
        return write_record(state.result(), storage=storage, serializer=serializer)
    return None
