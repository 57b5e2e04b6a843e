"""Flow parameters: validation and coercion from annotations, and the JSON the server records.

Prefect 3.9.1 creates the flow run with the parameters *as given* (``serialize``), then
validates them with one pydantic model over the signature (lax mode, arbitrary types
allowed). A failure raises :class:`ParameterTypeError`; the run goes Pending -> Failed with
:func:`failure_message` as the state's message and its body never runs.

skiff gets the same values without pydantic: each annotation compiles once (cached per
function) into a coercer that follows pydantic's lax rules (``"3"`` -> 3, ``"yes"`` ->
True, dict -> dataclass, smart unions: exact type, then strict, then lax in order) and words
errors as pydantic does, every error at once. pydantic is imported only for annotations
that name pydantic types (models, ``Field`` metadata), and then validates those itself.
msgspec converts msgspec Structs. :func:`serialize` is FastAPI's ``jsonable_encoder`` as
Prefect calls it, with Prefect's ``"<TypeName>"`` for what it cannot encode.

This module is the API the engine calls (:func:`validate`, :func:`serialize`, the messages
and errors); the compiler is ``_coerce`` (collections and records in ``_containers``), the
scalar, date and time rules ``_lax``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import ipaddress
import re
import sys
import types
import uuid
import weakref
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import msgspec

from skiff._engine._coerce import PYDANTIC_MODULES, node_of
from skiff._engine._lax import Coerce, Errors, Invalid
from skiff._exceptions import ValidationError

__all__ = [
    "FAILURE_PREFIX",
    "ParameterTypeError",
    "SignatureMismatchError",
    "Validator",
    "check",
    "failure_message",
    "log_message",
    "serialize",
    "validate",
    "validator",
]

FAILURE_PREFIX = "Validation of flow parameters failed with error:"
RESERVED = frozenset({"v__args", "v__kwargs", "v__positional_only", "v__duplicate_kwargs"})


class ParameterTypeError(ValidationError):
    """A flow's parameters do not fit its annotations (Prefect's ``ParameterTypeError``).

    ``str(exc)`` is Prefect's text: ``"Flow run received invalid parameters:\\n - loc: msg"``,
    one line per error; ``errors`` holds them as ``(loc, msg)`` pairs.
    """

    def __init__(self, msg: str, errors: Errors | None = None) -> None:
        super().__init__(msg)
        self.errors = errors or []

    @classmethod
    def from_errors(cls, errors: Errors) -> ParameterTypeError:
        """The error for ``errors``, worded as Prefect words a pydantic ValidationError."""
        lines = [f"{'.'.join(str(part) for part in loc)}: {msg}" for loc, msg in errors]
        return cls("Flow run received invalid parameters:\n - " + "\n - ".join(lines), errors)


class SignatureMismatchError(ValidationError, TypeError):
    """The parameters name keys the flow function does not take (Prefect's name)."""


def failure_message(exc: BaseException) -> str:
    """The message of the Failed state Prefect records when validation raised ``exc``."""
    return f"{FAILURE_PREFIX} {type(exc).__name__}: {exc}"


def log_message(exc: BaseException) -> str:
    """The ERROR line Prefect's engine logs then (on ``prefect.engine``: not sent to the API)."""
    return f"{FAILURE_PREFIX} {exc}"


def check(fn: Callable[..., Any]) -> None:
    """Raise at decoration, as Prefect does, when ``fn`` uses a name its model reserves."""
    if RESERVED & set(inspect.signature(fn).parameters):
        raise ValidationError(
            "Flow function is not compatible with `validate_parameters`. "
            "Disable validation or change the argument names."
        )


# --- the per-function plan ---


_EMPTY = inspect.Parameter.empty
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


class Validator:
    """The compiled plan for one function; call it with a parameters dict."""

    __slots__ = ("__weakref__", "_coerced", "_keys", "_names", "_params")

    def __init__(self, fn: Callable[..., Any]) -> None:
        signature = inspect.signature(fn)
        hints = _hints(fn, signature)
        params: list[tuple[str, Coerce | None, Any, Any]] = []
        for name, p in signature.parameters.items():
            annotation = hints.get(name, p.annotation)
            variadic = p.kind in (_VAR_POSITIONAL, _VAR_KEYWORD)  # Prefect: list[Any] / dict
            coerce = None if variadic or annotation is _EMPTY else node_of(annotation).fn
            params.append((name, coerce, p.default, p.kind))
        self._params = tuple(params)
        self._names = list(signature.parameters)
        # The common call: every key given, no variadics. Coerce in place; the full walk
        # below runs only for the rest, and to collect every error.
        simple = all(kind not in (_VAR_POSITIONAL, _VAR_KEYWORD) for *_, kind in params)
        self._keys = frozenset(self._names) if simple else None
        self._coerced = tuple((name, fn) for name, fn, *_ in params if fn is not None)

    def __call__(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The validated, coerced parameters; raises :class:`ParameterTypeError`."""
        if parameters.keys() == self._keys:
            out = dict(parameters)
            try:
                for name, fast in self._coerced:
                    out[name] = fast(out[name], False)
                return out
            except Invalid:
                pass
        out = {}
        errors: Errors = []
        seen = 0
        for name, coerce, default, kind in self._params:
            if name in parameters:
                seen += 1
                value = parameters[name]
                if coerce is not None:
                    try:
                        value = coerce(value, False)
                    except Invalid as exc:
                        errors.extend(((name, *loc), msg) for loc, msg in exc.errors)
                        continue
                elif kind is _VAR_POSITIONAL:
                    value = list(value)
                elif kind is _VAR_KEYWORD:
                    value = dict(value)
            elif kind is _VAR_POSITIONAL:
                value = []
            elif kind is _VAR_KEYWORD:
                value = {}
            elif default is _EMPTY:
                errors.append(((name,), "Field required"))
                continue
            else:
                value = default  # as pydantic: an omitted default is not validated
            out[name] = value
        if seen != len(parameters):
            raise SignatureMismatchError(
                f"Function expects parameters {self._names} but was provided with"
                f" parameters {list(parameters)}"
            )
        if errors:
            raise ParameterTypeError.from_errors(errors)
        return out


_VALIDATORS: weakref.WeakKeyDictionary[Any, Validator] = weakref.WeakKeyDictionary()
_last: tuple[Any, Validator | None] = (None, None)  # the flow called last: no weakref made


def validator(fn: Callable[..., Any]) -> Validator:
    """The cached :class:`Validator` of ``fn``, built on first use (so later types resolve)."""
    global _last
    last_fn, plan = _last
    if last_fn is fn and plan is not None:
        return plan
    try:
        plan = _VALIDATORS[fn]
    except KeyError:
        plan = _VALIDATORS[fn] = Validator(fn)
    except TypeError:  # not weak-referenceable: no cache
        return Validator(fn)
    _last = (fn, plan)
    return plan


def validate(fn: Callable[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` validated against ``fn``'s annotations, as Prefect's flow engine does.

    Every parameter of ``fn`` is in the result (an omitted one takes its default, which is
    not validated); unannotated ones pass unchanged. Raises :class:`ParameterTypeError`
    naming every bad value, or :class:`SignatureMismatchError` for unknown keys.
    """
    return validator(fn)(parameters)


def _hints(fn: Callable[..., Any], signature: inspect.Signature) -> dict[str, Any]:
    # String annotations (``from __future__ import annotations``) are read in the
    # function's globals, as Prefect's model does; one that cannot be read is left
    # unvalidated (Prefect's model would fail every call instead).
    hints: dict[str, Any] = {}
    for name, p in signature.parameters.items():
        if isinstance(p.annotation, str):
            try:
                hints[name] = eval(p.annotation, getattr(fn, "__globals__", {}))
            except Exception:
                hints[name] = Any
    return hints


# --- serialization: FastAPI's jsonable_encoder, as Prefect's serialize_parameters calls it ---


def serialize(parameters: dict[str, Any], opaque: tuple[type, ...] = ()) -> dict[str, Any]:
    """The JSON Prefect sends as a flow run's ``parameters``; never raises.

    Models and dataclasses become dicts, datetimes ISO strings, UUIDs and paths strings,
    sets and tuples lists, bytes UTF-8 text, timedeltas seconds, enums their values, other
    objects their ``vars()``. A value that cannot be encoded, and any instance of
    ``opaque`` (futures, states: never touched), is recorded as ``"<TypeName>"``.
    """
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if value is None or type(value) in _JSON_SCALARS:
            out[key] = value
            continue
        try:
            if isinstance(value, opaque):
                raise TypeError(key)
            encoded = _jsonable(value)
            msgspec.json.encode(encoded)  # what the transport will have to send
        except Exception:
            encoded = f"<{type(value).__name__}>"
        out[key] = encoded
    return out


_JSON_SCALARS = frozenset({str, int, float, bool})
_AS_STR = (
    uuid.UUID,
    ipaddress.IPv4Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Address,
    ipaddress.IPv6Interface,
    ipaddress.IPv6Network,
)


def _jsonable(obj: Any) -> Any:
    kind = type(obj)
    if kind in _JSON_SCALARS or obj is None:
        return obj
    if kind is list:  # exact lists and dicts cannot be models, dataclasses or enums
        return [_jsonable(item) for item in obj]
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return _jsonable(obj.model_dump(mode="json", by_alias=True))
    if dataclasses.is_dataclass(obj):
        if isinstance(obj, type):
            raise TypeError("a dataclass type")
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    if isinstance(obj, dict):
        return {
            _key(_jsonable(k)): _jsonable(v)
            for k, v in obj.items()
            if not (isinstance(k, str) and k.startswith("_sa"))  # FastAPI's SQLAlchemy guard
        }
    if isinstance(obj, (list, set, frozenset, types.GeneratorType, tuple, collections.deque)):
        return [_jsonable(item) for item in obj]
    if isinstance(obj, (bytes, dt.date, dt.time, dt.timedelta, decimal.Decimal, re.Pattern)):
        return _simple(obj)
    if isinstance(obj, _AS_STR) or type(obj).__module__.split(".")[0] in PYDANTIC_MODULES:
        return str(obj)  # pydantic's SecretStr, AnyUrl, NameEmail, Color too
    if isinstance(obj, msgspec.Struct):  # Prefect would record "<Type>": skiff keeps the fields
        return _jsonable(msgspec.to_builtins(obj))
    try:
        data = dict(obj)
    except Exception:
        data = vars(obj)
    return _jsonable(data)


def _key(key: Any) -> Any:
    # The keys the server records, as pydantic's JSON mode writes them in Prefect's client.
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    return "None" if key is None else str(key) if isinstance(key, (int, float)) else key


def _simple(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, (dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, re.Pattern):
        return obj.pattern
    exponent = obj.as_tuple().exponent
    return int(obj) if isinstance(exponent, int) and exponent >= 0 else float(obj)
