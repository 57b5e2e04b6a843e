"""Prefect's ``hash_objects``: md5 of a sorted-keys JSON dump, else of a cloudpickle dump.

The JSON dump is ``json.dumps(obj, sort_keys=True, default=prefect_json_object_encoder)``.
The encoder is called for what ``json`` cannot encode and returns, as Prefect 3.9.1's does:

- an exception: ``{"__exc_type__": "module.Qualname", "message": str(exc)}``;
- a file object: ``{"__class__": ..., "data": "<Prefect IOStream Placeholder: ...>"}``;
- anything else: ``{"__class__": "module.Qualname", "data": <jsonable form>}``, where the
  jsonable form is pydantic's ``to_jsonable_python`` (a model's ``model_dump(mode="json")``).

skiff computes that form itself (pydantic is optional), matching pydantic-core 2.x for
datetimes (``Z`` for UTC), dates, times, timedeltas (ISO 8601 durations), UUID, Decimal,
bytes, sets, enums, paths, IP addresses, patterns, complex numbers, dataclasses, iterators
(consumed, as pydantic does), dict keys, and pydantic models. Any other type fails the
JSON dump, and the key falls back to cloudpickle, as in Prefect.

cloudpickle is optional: when a hash needs it and it is missing,
:class:`~skiff.MissingExtraError` says how to install it (another pickler would give keys
Prefect never computes, so there is no silent fallback).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import io
import math
import re
import sys
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from skiff._exceptions import MissingExtraError, SkiffError

__all__ = [
    "CacheKeyError",
    "HashError",
    "hash_objects",
    "prefect_json_object_encoder",
    "stable_hash",
    "to_jsonable",
]

_IP_TYPES = (
    "IPv4Address",
    "IPv6Address",
    "IPv4Network",
    "IPv6Network",
    "IPv4Interface",
    "IPv6Interface",
)


# "No conversion applies" (None is a value).
_MISSING: Any = object()


class CacheKeyError(SkiffError, ValueError):
    """A cache key could not be computed; the engine runs the task without caching."""


class HashError(CacheKeyError):
    """The objects could be neither JSON-encoded nor pickled (Prefect's ``HashError``)."""


def _md5() -> Any:
    return hashlib.md5(usedforsecurity=False)


def stable_hash(*args: str | bytes, hash_algo: Callable[[], Any] = _md5) -> str:
    """The hex digest of ``args`` fed in order (strings as UTF-8), as Prefect's."""
    digest = hash_algo()
    for arg in args:
        digest.update(arg.encode() if isinstance(arg, str) else arg)
    return str(digest.hexdigest())


def cloudpickle_dumps(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)``; :class:`~skiff.MissingExtraError` when it is not installed."""
    try:
        import cloudpickle
    except ImportError:
        raise MissingExtraError("pickle", "cloudpickle") from None
    return bytes(cloudpickle.dumps(obj))


def hash_objects(
    *args: Any,
    hash_algo: Callable[[], Any] = _md5,
    raise_on_failure: bool = False,
    **kwargs: Any,
) -> str | None:
    """Prefect's ``hash_objects``: the hash of ``(args, kwargs)``, or ``None`` if impossible.

    JSON first (sorted keys, Prefect's encoder), cloudpickle when JSON fails. With
    ``raise_on_failure`` a failure raises :class:`HashError` instead of returning ``None``.
    A missing cloudpickle always raises :class:`~skiff.MissingExtraError`.
    """
    import json

    try:
        text = json.dumps((args, kwargs), sort_keys=True, default=prefect_json_object_encoder)
        return stable_hash(text.encode(), hash_algo=hash_algo)
    except Exception as exc:
        json_error: Exception = exc
    try:
        return stable_hash(cloudpickle_dumps((args, kwargs)), hash_algo=hash_algo)
    except MissingExtraError as exc:
        raise exc from json_error
    except Exception as exc:
        if raise_on_failure:
            raise HashError(
                "Unable to create hash - objects could not be serialized.\n"
                f"  JSON error: {json_error}\n"
                f"  Pickle error: {exc}"
            ) from exc
    return None


def _qualified_name(cls: type) -> str:
    return cls.__module__ + "." + cls.__qualname__


def prefect_json_object_encoder(obj: Any) -> Any:
    """The ``default=`` Prefect's JSON serializer passes to ``json.dumps``."""
    if isinstance(obj, BaseException):
        return {"__exc_type__": _qualified_name(type(obj)), "message": str(obj)}
    if isinstance(obj, io.IOBase):
        return {
            "__class__": _qualified_name(type(obj)),
            "data": f"<Prefect IOStream Placeholder: type={type(obj).__name__}, "
            f"repr={obj!r} (original content not read)>",
        }
    cls = type(obj)
    # A parametrized pydantic generic (Model[int]) is named by its importable origin.
    origin = (getattr(cls, "__pydantic_generic_metadata__", None) or {}).get("origin")
    return {"__class__": _qualified_name(origin or cls), "data": to_jsonable(obj)}


def to_jsonable(value: Any) -> Any:
    """pydantic's ``to_jsonable_python(value)`` for the types listed in the module docstring."""
    return _jsonable(value, set())


def _pydantic_model_dump(value: Any) -> Any:
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None and not isinstance(value, type):
        return serializer.to_python(value, mode="json")
    return _MISSING


def _jsonable(value: Any, seen: set[int]) -> Any:
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, seen)
    if isinstance(value, str):
        return str.__str__(value)  # the text itself, not a subclass's __str__
    if value is None or isinstance(value, (bool, int, float)):
        return value
    simple = _simple(value)
    if simple is not _MISSING:
        return simple
    dumped = _pydantic_model_dump(value)
    if dumped is not _MISSING:
        return dumped
    if id(value) in seen:
        raise ValueError("Circular reference detected (id repeated)")
    seen.add(id(value))
    try:
        if isinstance(value, dict):
            return {_key(k): _jsonable(v, seen) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset, deque)):
            return [_jsonable(item, seen) for item in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: _jsonable(getattr(value, f.name), seen) for f in dataclasses.fields(value)
            }
        if hasattr(type(value), "__next__") and hasattr(type(value), "__iter__"):
            return [_jsonable(item, seen) for item in value]
    finally:
        seen.discard(id(value))
    raise TypeError(f"Unable to serialize unknown type: {type(value)!r}")


def _simple(value: Any) -> Any:
    """The string form of a scalar pydantic knows, or ``_MISSING``."""
    if isinstance(value, datetime.datetime):
        return f"{value.date().isoformat()}T{_time(value)}{_offset(value.utcoffset())}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return _time(value) + _offset(value.utcoffset())
    if isinstance(value, datetime.timedelta):
        return _duration(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    if isinstance(value, (uuid.UUID, *_lazy_types())):
        return str(value)
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, complex):
        return _complex(value)
    return _MISSING


def _lazy_types() -> tuple[type, ...]:
    """Path, Decimal, the ipaddress types: those whose module is imported (else none exist)."""
    found: list[type] = []
    if (pathlib := sys.modules.get("pathlib")) is not None:
        found.append(pathlib.Path)
    if (decimal := sys.modules.get("decimal")) is not None:
        found.append(decimal.Decimal)
    if (ipaddress := sys.modules.get("ipaddress")) is not None:
        found.extend(getattr(ipaddress, name) for name in _IP_TYPES)
    return tuple(found)


def _time(value: datetime.datetime | datetime.time) -> str:
    text = f"{value.hour:02}:{value.minute:02}:{value.second:02}"
    return f"{text}.{value.microsecond:06}" if value.microsecond else text


def _offset(offset: datetime.timedelta | None) -> str:
    if offset is None:
        return ""
    seconds = int(offset.total_seconds())
    if seconds == 0 and offset.microseconds == 0:
        return "Z"
    # pydantic drops the offset's seconds (toward zero), keeping the sign.
    minutes = abs(seconds) // 60
    return f"{'-' if offset < datetime.timedelta(0) else '+'}{minutes // 60:02}:{minutes % 60:02}"


def _duration(value: datetime.timedelta) -> str:
    negative = value < datetime.timedelta(0)
    if negative:
        value = -value
    years, days = divmod(value.days, 365)
    text = (
        ("-P" if negative else "P") + (f"{years}Y" if years else "") + (f"{days}D" if days else "")
    )
    if value.seconds or value.microseconds:
        hours, rest = divmod(value.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        if seconds or value.microseconds:
            fraction = "." + f"{value.microseconds:06}".rstrip("0") if value.microseconds else ""
            text += f"{seconds}{fraction}S"
    return "PT0S" if text in ("P", "-P") else text


def _float_text(number: float) -> str:
    """A float as Rust prints it: shortest digits, never an exponent, no trailing ``.0``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    import decimal

    text = format(decimal.Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _complex(value: complex) -> str:
    if value.real == 0:
        return f"{_float_text(value.imag)}j"
    sign = "-" if math.copysign(1.0, value.imag) < 0 and not math.isnan(value.imag) else "+"
    return f"{_float_text(value.real)}{sign}{_float_text(abs(value.imag))}j"


def _key(key: Any) -> str:
    """A dict key as pydantic writes it in JSON mode."""
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "None"
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        return repr(float(key))
    if isinstance(key, tuple):
        return ",".join(_key(item) for item in key)
    if dataclasses.is_dataclass(key) and not isinstance(key, type):
        return str(key)
    simple = _simple(key)
    if simple is _MISSING:
        raise TypeError(f"`{type(key).__name__}` not valid as object key")
    return str(simple)
