"""Result records: persisted results in Prefect 3.9.1's format, for caching and for the UI.

A record is the JSON ``{"metadata": {...}, "result": <serialized value>}`` (DESIGN.md,
"Results"), written compactly as Prefect's pydantic dump writes it; its metadata is what a
state's ``data`` carries to the server, which shows it as the run's result. A task's record
is named by its cache key (or its formatted ``result_storage_key``), so a later run, of
skiff or of Prefect, on the same storage and with the same key is a cache hit; a flow's by
a random key. Where records are stored: :mod:`skiff._engine._result_storage`.

Serializers:

- ``"json"``, skiff's default: Prefect's ``JSONSerializer`` bytes (``json.dumps`` with
  Prefect's object encoder; read back with its decoder, which rebuilds pydantic models and
  exceptions it can import). A value it cannot encode is not silently pickled instead:
  as in Prefect, the record is not written, a warning says so, and the run goes on; pass
  ``result_serializer="pickle"`` for such values. (``PREFECT_RESULTS_DEFAULT_SERIALIZER``
  changes the default.)
- ``"pickle"``, only when asked: cloudpickle (the standard pickle without it) under base64.
  Reading one runs code from the storage, so it needs ``SKIFF_ALLOW_PICKLE_RESULTS=1``;
  without it :class:`PickleNotAllowedError` names the setting (a cache lookup logs it and
  runs the task).

Any other serializer in a record is :class:`UnknownSerializerError`; bytes that are not a
record are :class:`CorruptRecordError`. Both are a logged miss in a cache lookup.
"""

from __future__ import annotations

import datetime
import importlib
import json
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

from skiff._exceptions import SkiffError

if TYPE_CHECKING:
    from skiff._engine._result_storage import RecordStorage

__all__ = [
    "ALLOW_PICKLE_ENV",
    "CorruptRecordError",
    "PickleNotAllowedError",
    "ResultRecordError",
    "ResultStorageError",
    "ResultWriteError",
    "UnknownSerializerError",
    "default_serializer",
    "flow_persists",
    "flow_result_data",
    "is_expired",
    "load_value",
    "parse_record",
    "write_record",
]

# The result-record format skiff writes is Prefect 3.9.1's; a Prefect reader decides by
# this field how to read the record.
RECORD_FORMAT_VERSION = "3.9.1"
ALLOW_PICKLE_ENV = "SKIFF_ALLOW_PICKLE_RESULTS"

logger = logging.getLogger("skiff")

_SERIALIZERS: dict[str, dict[str, Any]] = {
    "pickle": {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None},
    "json": {
        "type": "json",
        "jsonlib": "json",
        "object_encoder": "prefect.serializers.prefect_json_object_encoder",
        "object_decoder": "prefect.serializers.prefect_json_object_decoder",
        "dumps_kwargs": {},
        "loads_kwargs": {},
    },
}


class ResultStorageError(SkiffError):
    """The result storage could not be resolved (a slug that loads no storage block)."""


class ResultRecordError(SkiffError):
    """A result record could not be written or read (the message says why and what to do)."""


class ResultWriteError(ResultRecordError):
    """A result was not persisted: it did not serialize, or the storage refused it."""


class CorruptRecordError(ResultRecordError, ValueError):
    """The stored bytes are not a result record, or its result does not decode."""


class UnknownSerializerError(ResultRecordError):
    """The record names a serializer skiff cannot read (it reads json and pickle)."""


class PickleNotAllowedError(ResultRecordError):
    """A pickle record, read without ``SKIFF_ALLOW_PICKLE_RESULTS=1`` (unpickling runs code)."""


def default_serializer() -> str:
    """``PREFECT_RESULTS_DEFAULT_SERIALIZER`` when it is json or pickle, else ``"json"``."""
    configured = os.environ.get("PREFECT_RESULTS_DEFAULT_SERIALIZER", "json")
    return configured if configured in _SERIALIZERS else "json"


def _iso(moment: datetime.datetime) -> str:
    # pydantic's form, which Prefect writes: UTC with a Z.
    text = moment.astimezone(datetime.timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def _dumps(value: Any, serializer: str) -> str:
    if serializer == "json":
        from skiff._engine._hashing import prefect_json_object_encoder

        return json.dumps(value, default=prefect_json_object_encoder)
    import base64
    import pickle

    try:
        import cloudpickle
    except ImportError:
        return base64.encodebytes(pickle.dumps(value)).decode()
    return base64.encodebytes(cloudpickle.dumps(value)).decode()


def write_record(
    value: Any,
    storage: RecordStorage,
    *,
    key: str | None = None,
    serializer: str = "json",
    expiration: datetime.datetime | None = None,
    exclusive: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Persist ``value`` as a record named ``key`` (random when None): (metadata, stored).

    ``exclusive`` creates the record only where none is (``stored`` is then False when one
    was there already). Raises :class:`ResultWriteError` naming the cause.
    """
    if serializer not in _SERIALIZERS:
        raise ResultWriteError(
            f"unknown result_serializer {serializer!r}: use 'json' (the default) or 'pickle'"
        )
    key = key or uuid.uuid4().hex
    try:
        storage_key = storage.storage_key(key)
        text = _dumps(value, serializer)
    except Exception as exc:
        raise ResultWriteError(
            f"Failed to serialize object of type {type(value).__name__!r} with serializer "
            f"{serializer!r} ({exc}). You can try a different serializer (e.g. "
            'result_serializer="pickle") or disabling persistence (persist_result=False) '
            "for this flow or task."
        ) from exc
    metadata = {
        "storage_key": storage_key,
        "expiration": _iso(expiration) if expiration is not None else None,
        "serializer": _SERIALIZERS[serializer],
        "prefect_version": RECORD_FORMAT_VERSION,
        "storage_block_id": str(storage.block_id) if storage.block_id is not None else None,
    }
    record = json.dumps(
        {"metadata": metadata, "result": text}, separators=(",", ":"), ensure_ascii=False
    ).encode()
    try:
        if exclusive:
            return metadata, storage.create(key, record)
        storage.write(key, record)
    except Exception as exc:
        raise ResultWriteError(
            f"could not write the result record {key!r} to {storage!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return metadata, True


def parse_record(content: bytes, where: str) -> tuple[dict[str, Any], str]:
    """A record's metadata and its serialized result; :class:`CorruptRecordError` if not one."""
    try:
        record = json.loads(content)
        metadata, result = record["metadata"], record["result"]
        if not isinstance(metadata, dict) or not isinstance(result, str):
            raise TypeError("metadata must be an object and result a string")
        if metadata.get("expiration") is not None:
            _expiration(metadata)
    except Exception as exc:
        raise CorruptRecordError(
            f"{where} is not a result record ({type(exc).__name__}: {exc}); delete it, or "
            "set refresh_cache=True on the task to replace it"
        ) from None
    return metadata, result


def _expiration(metadata: dict[str, Any]) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(str(metadata["expiration"]).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def is_expired(metadata: dict[str, Any]) -> bool:
    """Whether the record's ``expiration`` has passed (a record without one never expires)."""
    if metadata.get("expiration") is None:
        return False
    return _expiration(metadata) <= datetime.datetime.now(datetime.timezone.utc)


def _from_qualified_name(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _decode_object(result: dict[str, Any]) -> Any:
    # Prefect's prefect_json_object_decoder: classes it can import come back as themselves.
    if "__class__" in result:
        try:
            cls = _from_qualified_name(result["__class__"])
            from pydantic import TypeAdapter
        except (ImportError, AttributeError, ValueError):
            return result
        return TypeAdapter(cls).validate_python(result["data"])
    if "__exc_type__" in result:
        try:
            exc_cls = _from_qualified_name(result["__exc_type__"])
        except (ImportError, AttributeError, ValueError):
            exc_cls = None
        if not (isinstance(exc_cls, type) and issubclass(exc_cls, BaseException)):
            raise ValueError(f"Invalid exception type: {result['__exc_type__']!r}")
        return exc_cls(result["message"])
    return result


def _pickle_allowed() -> bool:
    from skiff.client._settings import _parse_bool

    return _parse_bool(ALLOW_PICKLE_ENV, os.environ.get(ALLOW_PICKLE_ENV, "false"))


def load_value(metadata: dict[str, Any], result: str, where: str) -> Any:
    """The value a record holds, by the serializer its metadata names (module docstring)."""
    spec = metadata.get("serializer") or _SERIALIZERS["pickle"]  # Prefect's default
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "json" and spec.get("jsonlib", "json") == "json":
        try:
            return json.loads(result, object_hook=_decode_object)
        except Exception as exc:
            raise CorruptRecordError(
                f"the json result in {where} does not decode ({type(exc).__name__}: {exc})"
            ) from None
    if kind == "pickle" and spec.get("picklelib", "cloudpickle") in ("cloudpickle", "pickle"):
        if not _pickle_allowed():
            raise PickleNotAllowedError(
                f"{where} is a pickle record; unpickling runs code from the storage, so "
                f"skiff reads one only with {ALLOW_PICKLE_ENV}=1 (set it if you trust "
                "everyone who can write there), else the task runs uncached"
            )
        import base64
        import pickle

        try:
            return pickle.loads(base64.decodebytes(result.encode()))
        except Exception as exc:
            raise CorruptRecordError(
                f"the pickle result in {where} does not load ({type(exc).__name__}: {exc})"
            ) from None
    raise UnknownSerializerError(
        f"{where} was written with serializer {spec!r}, which skiff does not read "
        "(json and pickle only); write it with result_serializer='json'"
    )


def flow_persists(options: dict[str, Any]) -> bool:
    """A flow's ``persist_result``; unset, True when it has ``result_storage`` or a serializer."""
    persist = options.get("persist_result")
    if persist is not None:
        return bool(persist)
    return options.get("result_storage") is not None or options.get("result_serializer") is not None


def flow_result_data(engine: Any, state: Any) -> dict[str, Any] | None:
    """The ``data`` a flow's final state carries, as Prefect's engine sets it.

    Prefect persists a flow's exception whenever the flow raised, and its return value
    when the flow has ``persist_result=True``; the server shows such data as a result
    artifact of the run. Other states carry none; so does a state whose record could not
    be written (logged, as Prefect logs it).
    """
    from skiff._engine._result_storage import resolve_storage, storage_configured

    flow = engine.flow
    spec = flow.options.get("result_storage")
    failed = state.is_failed() and state.name == "Failed" and isinstance(state._data, Exception)
    persisted = state.is_completed() and flow_persists(flow.options)
    if not engine.settings.reporting or not (failed or persisted):
        return None
    if spec is None and not storage_configured():
        return None
    serializer = flow.options.get("result_serializer") or default_serializer()
    try:
        storage = resolve_storage(spec)
        value = state._data if failed else state.result()
        return write_record(value, storage, serializer=serializer)[0]
    except Exception as exc:
        logger.warning(
            "Encountered an error while persisting result: %s Execution will continue, but"
            " the result has not been persisted",
            exc,
        )
        return None
