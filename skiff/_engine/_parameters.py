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
"""

from __future__ import annotations

import collections
import collections.abc as abc
import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import ipaddress
import re
import sys
import types
import typing
import uuid
import weakref
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, NoReturn, Union

import msgspec

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
Loc = tuple[Any, ...]
Errors = list[tuple[Loc, str]]
Coerce = Callable[[Any, bool], Any]  # (value, strict) -> value, or raises _Invalid


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
            coerce = None if variadic or annotation is _EMPTY else _node(annotation).fn
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
            except _Invalid:
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
                    except _Invalid as exc:
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


# --- coercers: one node per annotation ---


class _Invalid(Exception):
    def __init__(self, errors: Errors) -> None:
        self.errors = errors


def _fail(msg: str) -> NoReturn:
    raise _Invalid([((), msg)])


class _Node:
    """A compiled annotation: ``fn`` coerces; ``tag`` is pydantic's name for it as a union
    member (prefixed to its errors' locations); ``exact`` are the types it returns as they
    are (a union's first choice)."""

    __slots__ = ("exact", "fn", "tag")

    def __init__(self, fn: Coerce, tag: str, exact: tuple[type, ...] = ()) -> None:
        self.fn, self.tag, self.exact = fn, tag, exact


_NODES: dict[Any, _Node] = {}


def _node(tp: Any) -> _Node:
    # Keyed by the type and its repr: Union[int, float] == Union[float, int], but pydantic
    # tries the members in the order written.
    key = (tp, repr(tp))
    try:
        return _NODES[key]
    except KeyError:
        node = _NODES[key] = _build(tp)
        return node
    except TypeError:  # unhashable metadata in Annotated
        return _build(tp)


def _passthrough(value: Any, strict: bool) -> Any:
    return value


_ANY = _Node(_passthrough, "any")


def _build(tp: Any) -> _Node:
    if tp is Any or tp is object or tp is _EMPTY or isinstance(tp, typing.TypeVar):
        return _ANY
    if tp is None or tp is type(None):
        return _Node(_none, "none", (type(None),))
    if isinstance(tp, str):  # an unresolved forward reference inside a type
        return _ANY
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _needs_pydantic(tp):
        return _pydantic(tp)
    if origin is typing.Annotated:
        return _node(args[0])
    if hasattr(tp, "__supertype__"):  # NewType
        return _node(tp.__supertype__)
    if origin is Union or origin is types.UnionType:
        return _union(args)
    if origin is typing.Literal:
        return _literal(args)
    if origin is type:
        return _subclass(args[0] if args else Any)
    if tp in _SCALARS:
        return _SCALARS[tp]
    container = _container(origin or tp, args)
    if container is not None:
        return container
    if isinstance(tp, type) or isinstance(origin, type):  # MyGeneric[int]: an instance check
        return _class(tp if isinstance(tp, type) else origin)
    return _ANY  # a typing construct skiff does not check


def _needs_pydantic(tp: Any, seen: set[int] | None = None) -> bool:
    # Only a program that imported pydantic can name its types, so this imports nothing.
    if "pydantic" not in sys.modules and "annotated_types" not in sys.modules:
        return False
    seen = seen if seen is not None else set()
    if id(tp) in seen:
        return False
    seen.add(id(tp))
    if typing.get_origin(tp) is typing.Annotated:
        metadata = tp.__metadata__
        if any(type(m).__module__.split(".")[0] in _PYDANTIC_MODULES for m in metadata):
            return True
    if isinstance(tp, type):
        if any(c.__module__.split(".")[0] in _PYDANTIC_MODULES for c in tp.__mro__):
            return True
        if hasattr(tp, "__pydantic_validator__"):
            return True
        if dataclasses.is_dataclass(tp) or _is_namedtuple(tp) or typing.is_typeddict(tp):
            return any(_needs_pydantic(t, seen) for t in _fields(tp).values())
        return False
    return any(_needs_pydantic(a, seen) for a in typing.get_args(tp))


_PYDANTIC_MODULES = frozenset({"pydantic", "pydantic_core", "annotated_types"})


def _pydantic(tp: Any) -> _Node:
    adapter: list[Any] = []

    def coerce(value: Any, strict: bool) -> Any:
        if not adapter:
            import pydantic  # only here: an annotation names a pydantic type

            config = pydantic.ConfigDict(arbitrary_types_allowed=True, extra="forbid")
            try:
                adapter.append(pydantic.TypeAdapter(tp, config=config))
            except pydantic.PydanticUserError:  # models carry their own config
                adapter.append(pydantic.TypeAdapter(tp))
        try:
            return adapter[0].validate_python(value, strict=strict or None)
        except sys.modules["pydantic"].ValidationError as exc:
            raise _Invalid([(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from None

    return _Node(coerce, getattr(tp, "__name__", str(tp)))


# --- scalars ---

# Patterns are compiled on first use (re caches them): importing costs no regex compile.
_INT_TEXT = r"(?a)([+-]?)([0-9]+(?:_[0-9]+)*)\.0+"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_TEXT = (str, bytes, bytearray)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else bytes(value).decode(errors="replace")


def _int(value: Any, strict: bool) -> Any:
    if type(value) is int:
        return value
    if strict:
        _fail("Input should be a valid integer")
    if isinstance(value, int):  # bool, IntEnum
        return int(value)
    if isinstance(value, enum.Enum):  # pydantic returns a non-int value unchecked
        return _int(value.value, False) if isinstance(value.value, int) else value.value
    if isinstance(value, (float, decimal.Decimal)):
        try:
            whole = int(value)
        except (ValueError, OverflowError):
            _fail("Input should be a finite number")
        if whole != value:
            _fail("Input should be a valid integer, got a number with a fractional part")
        if isinstance(value, float) and abs(whole) >= 2**63:
            _fail("Unable to parse input string as an integer, exceeded maximum size")
        return whole
    if isinstance(value, _TEXT):
        text = _text(value).strip()
        if text.isascii():
            try:
                return int(text)  # "3", "+3", "1_000"
            except ValueError:
                match = re.fullmatch(_INT_TEXT, text)  # "3.00"
                if match:
                    return int(match[1] + match[2])
        _fail("Input should be a valid integer, unable to parse string as an integer")
    _fail("Input should be a valid integer")


def _float(value: Any, strict: bool) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if isinstance(value, int) and kind is not bool:
        return float(value)
    if not strict:
        if isinstance(value, (int, float, decimal.Decimal)):
            return float(value)
        if isinstance(value, _TEXT):
            text = _text(value).strip()
            try:
                if text.isascii():
                    return float(text)
            except ValueError:
                pass
            _fail("Input should be a valid number, unable to parse string as a number")
    _fail("Input should be a valid number")


def _bool(value: Any, strict: bool) -> Any:
    if type(value) is bool:
        return value
    if not strict:
        if isinstance(value, _TEXT):
            text = _text(value).lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            _fail("Input should be a valid boolean, unable to interpret input")
        if isinstance(value, (int, float, decimal.Decimal)):
            if value == 0 or value == 1:
                return bool(value)
            number = float(value)
            if number.is_integer() and abs(number) < 2**63:
                _fail("Input should be a valid boolean, unable to interpret input")
    _fail("Input should be a valid boolean")


def _str(value: Any, strict: bool) -> Any:
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return value if type(value) is str else str.__str__(value)
    if not strict:
        if isinstance(value, enum.Enum):
            return value.value if isinstance(value.value, str) else str(value.value)
        if isinstance(value, (bytes, bytearray)):
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                _fail(
                    "Input should be a valid string, unable to parse raw data as a unicode string"
                )
    _fail("Input should be a valid string")


def _bytes(value: Any, strict: bool) -> Any:
    if type(value) is bytes:
        return value
    if not strict:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    _fail("Input should be a valid bytes")


def _none(value: Any, strict: bool) -> Any:
    if value is None:
        return None
    _fail("Input should be None")


def _decimal(value: Any, strict: bool) -> Any:
    if isinstance(value, decimal.Decimal):
        number = value
    elif strict or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        _fail("Decimal input should be an integer, float, string or Decimal object")
    else:
        try:
            number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
        except decimal.InvalidOperation:
            _fail("Input should be a valid decimal")
    if not number.is_finite():
        _fail("Input should be a finite number")
    return number


def _uuid(value: Any, strict: bool) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if strict or not isinstance(value, _TEXT):
        _fail("UUID input should be a string, bytes or UUID object")
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return uuid.UUID(bytes=bytes(value))
    text = _text(value)
    try:
        return uuid.UUID(text)
    except ValueError:
        if not isinstance(value, str):
            _fail(
                f"Input should be a valid UUID, invalid length: expected 16 bytes, found {len(value)}"
            )
        _fail(f"Input should be a valid UUID, {_uuid_problem(text)}")


def _uuid_problem(text: str) -> str:
    body = text[9:] if text.lower().startswith("urn:uuid:") else text
    offset = len(text) - len(body)
    for index, char in enumerate(body):
        if char not in "0123456789abcdefABCDEF-{}":
            return f"invalid character: found `{char}` at {index + offset}"
    groups = body.strip("{}").split("-")
    if len(groups) == 1:
        return f"invalid length: found {len(groups[0])}"
    if len(groups) != 5:
        return f"invalid group count: expected 5, found {len(groups)}"
    for index, (group, size) in enumerate(zip(groups, (8, 4, 4, 4, 12), strict=True)):
        if len(group) != size:
            return f"invalid group length in group {index}: expected {size}, found {len(group)}"
    return "invalid format"


_DATE = r"(?a)(\d{4})-(\d{2})-(\d{2})"
_TIME = r"(?a)(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
_NUMBER = r"(?a)[+-]?(\d+\.?\d*|\.\d+)"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _date_problem(text: str) -> str:
    # speedate's checks, in its order
    if len(text) < 10:
        return "input is too short"
    for part, span, separator in (("year", text[:4], 4), ("month", text[5:7], 7)):
        if not (span.isascii() and span.isdigit()):
            return f"invalid character in {part}"
        if text[separator] != "-":
            return "invalid date separator, expected `-`"
    if not (text[8:10].isascii() and text[8:10].isdigit()):
        return "invalid character in day"
    if not 1 <= int(text[5:7]) <= 12:
        return "month value is outside expected range of 1-12"
    return "day value is outside expected range"


def _parse_time(text: str) -> dt.time | None:
    match = re.match(_TIME, text)
    if not match:
        return None
    hour, minute, second, fraction, zulu, sign, tz_h, tz_m = match.groups()
    tzinfo = dt.timezone.utc if zulu else None
    if sign:
        offset = dt.timedelta(hours=int(tz_h), minutes=int(tz_m))
        tzinfo = dt.timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return dt.time(int(hour), int(minute), int(second or 0), micro, tzinfo=tzinfo)
    except ValueError:
        return None


def _parse_datetime(text: str, label: str) -> dt.datetime:
    if re.fullmatch(_NUMBER, text):
        return _from_timestamp(float(text), label)
    match = re.match(_DATE, text)
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3])) if match else None
    except ValueError:
        day = None
    if day is None:
        _fail(f"Input should be a valid {label}, {_date_problem(text)}")
    if len(text) == 10:
        return dt.datetime(day.year, day.month, day.day)
    moment = _parse_time(text[11:]) if text[10] in "Tt _" else None
    if moment is None:
        _fail(
            f"Input should be a valid {label}, unexpected extra characters at the end of the input"
        )
    return dt.datetime.combine(day, moment, tzinfo=moment.tzinfo)


def _from_timestamp(seconds: Any, label: str) -> dt.datetime:
    seconds = float(seconds)
    if seconds != seconds:
        _fail(f"Input should be a valid {label}, NaN values not permitted")
    if abs(seconds) > 2e10:  # pydantic reads larger numbers as milliseconds
        seconds /= 1000
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        _fail(
            f"Input should be a valid {label}, dates after 9999 are not supported as unix timestamps"
        )


_NUMBERS = (int, float, decimal.Decimal)


def _datetime(value: Any, strict: bool) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not strict:
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        if isinstance(value, _NUMBERS) and not isinstance(value, bool):
            return _from_timestamp(value, "datetime")
        if isinstance(value, _TEXT):
            return _parse_datetime(_text(value), "datetime or date")
    _fail("Input should be a valid datetime")


def _date(value: Any, strict: bool) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not strict:
        moment = None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, _NUMBERS) and not isinstance(value, bool):
            moment = _from_timestamp(value, "date or datetime")
        elif isinstance(value, _TEXT):
            moment = _parse_datetime(_text(value), "date or datetime")
        if moment is not None:
            if moment.time() != dt.time():
                _fail("Datetimes provided to dates should have zero time - e.g. be exact dates")
            return moment.date()
    _fail("Input should be a valid date")


def _time(value: Any, strict: bool) -> Any:
    if isinstance(value, dt.time):
        return value
    if not strict:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 86400:
            return (
                (dt.datetime.min + dt.timedelta(seconds=value))
                .time()
                .replace(tzinfo=dt.timezone.utc)
            )
        if isinstance(value, _TEXT):
            text = _text(value)
            parsed = _parse_time(text)
            if parsed is not None:
                return parsed
            if len(text) < 5:
                problem = "input is too short"
            elif text[:2].isdigit() and int(text[:2]) > 23:
                problem = "hour value is outside expected range of 0-23"
            else:
                problem = "invalid character in hour"
            _fail(f"Input should be in a valid time format, {problem}")
    _fail("Input should be a valid time")


_ISO_DURATION = (
    r"(?a)([+-]?)P(?:([\d.]+)Y)?(?:([\d.]+)M)?(?:([\d.]+)W)?(?:([\d.]+)D)?"
    r"(?:T(?:([\d.]+)H)?(?:([\d.]+)M)?(?:([\d.]+)S)?)?"
)
_DAYS = r"(?a)([+-]?\d+) ?(?:days?|d)(?:,? ?(.+))?"
_CLOCK = r"(?a)([+-]?)(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?"


def _parse_duration(text: str) -> dt.timedelta | None:
    iso = re.fullmatch(_ISO_DURATION, text)
    if iso and text.strip("+-") != "P":
        sign, *parts = iso.groups()
        years, months, weeks, days, hours, minutes, seconds = (float(p or 0) for p in parts)
        total = dt.timedelta(
            days=years * 365 + months * 30 + weeks * 7 + days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
        )
        return -total if sign == "-" else total
    day_form = re.fullmatch(_DAYS, text)
    if day_form:
        rest = _parse_duration(day_form[2]) if day_form[2] else dt.timedelta()
        return None if rest is None else dt.timedelta(days=int(day_form[1])) + rest
    clock = re.fullmatch(_CLOCK, text)
    if clock:
        sign, h, m, sec = clock.groups()
        total = dt.timedelta(hours=int(h), minutes=int(m), seconds=float(sec or 0))
        return -total if sign == "-" else total
    return None


def _timedelta(value: Any, strict: bool) -> Any:
    if isinstance(value, dt.timedelta):
        return value
    if not strict:
        if isinstance(value, _NUMBERS):
            if value != value:
                _fail("Input should be a valid timedelta, NaN values not permitted")
            try:
                return dt.timedelta(seconds=float(value))
            except OverflowError:
                _fail(
                    "Input should be a valid timedelta, durations may not exceed 999,999,999 days"
                )
        if isinstance(value, _TEXT):
            text = _text(value)
            parsed = _parse_duration(text)
            if parsed is not None:
                return parsed
            if not text:
                problem = "input is too short"
            elif text.lstrip("+-")[:1].isdigit():
                problem = '"day" identifier in duration not correctly formatted'
            else:
                problem = "invalid digit in duration"
            _fail(f"Input should be a valid timedelta, {problem}")
    _fail("Input should be a valid timedelta")


_SCALARS: dict[Any, _Node] = {
    int: _Node(_int, "int", (int,)),
    float: _Node(_float, "float", (float,)),
    bool: _Node(_bool, "bool", (bool,)),
    str: _Node(_str, "str", (str,)),
    bytes: _Node(_bytes, "bytes", (bytes,)),
    decimal.Decimal: _Node(_decimal, "decimal", (decimal.Decimal,)),
    uuid.UUID: _Node(_uuid, "uuid", (uuid.UUID,)),
    dt.datetime: _Node(_datetime, "datetime", (dt.datetime,)),
    dt.date: _Node(_date, "date", (dt.date,)),
    dt.time: _Node(_time, "time", (dt.time,)),
    dt.timedelta: _Node(_timedelta, "timedelta", (dt.timedelta,)),
}


# --- unions, literals, classes ---


def _union(members: tuple[Any, ...]) -> _Node:
    nullable = type(None) in members
    nodes = [_node(m) for m in members if m is not type(None)]
    if len(nodes) == 1:
        inner = nodes[0]
        if not nullable:
            return inner

        def optional(value: Any, strict: bool) -> Any:
            return None if value is None else inner.fn(value, strict)

        return _Node(optional, f"nullable[{inner.tag}]", (*inner.exact, type(None)))

    def union(value: Any, strict: bool) -> Any:
        # pydantic's smart mode: an exact type match, then the first strict success,
        # then the first lax success, in the order written.
        if value is None and nullable:
            return None
        kind = type(value)
        for node in nodes:
            if kind in node.exact:
                return node.fn(value, True)
        errors: Errors = []
        for lax in (False, True) if not strict else (False,):
            errors = []
            for node in nodes:
                try:
                    return node.fn(value, not lax)
                except _Invalid as exc:
                    errors.extend(((node.tag, *loc), msg) for loc, msg in exc.errors)
        raise _Invalid(errors)

    tag = f"union[{','.join(n.tag for n in nodes)}]"
    return _Node(union, f"nullable[{tag}]" if nullable else tag)


def _expected(values: Any) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _literal(values: tuple[Any, ...]) -> _Node:
    message = f"Input should be {_expected(values)}"

    def literal(value: Any, strict: bool) -> Any:
        for expected in values:
            kind = type(expected)
            if value is expected or (type(value) is kind and value == expected):
                return expected
            # lax: a number equal to an int literal (1.0, True) matches it
            if not strict and kind is int and isinstance(value, (int, float)) and value == expected:
                return expected
        _fail(message)

    return _Node(literal, f"literal[{','.join(repr(v) for v in values)}]")


def _subclass(base: Any) -> _Node:
    if base is Any:
        return _class(type)

    def subclass(value: Any, strict: bool) -> Any:
        if isinstance(value, type) and issubclass(value, base):
            return value
        _fail(f"Input should be a subclass of {base.__name__}")

    return _Node(subclass, f"is-subclass[{base.__name__}]")


def _enum(cls: type[enum.Enum]) -> _Node:
    message = f"Input should be {_expected([m.value for m in cls])}"
    base = _int if issubclass(cls, int) else _str if issubclass(cls, str) else None

    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        if not strict:
            try:
                return cls(value)
            except (ValueError, TypeError):
                pass
            if base is not None:
                try:
                    return cls(base(value, False))
                except (_Invalid, ValueError):
                    pass
        _fail(message)

    return _Node(coerce, f"enum[{cls.__name__}]", (cls,))


def _instance(cls: type, message: str, tag: str) -> _Node:
    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        _fail(message)

    return _Node(coerce, tag, (cls,))


def _class(cls: type) -> _Node:
    if issubclass(cls, enum.Enum):
        return _enum(cls)
    if issubclass(cls, msgspec.Struct):
        return _struct(cls)
    if dataclasses.is_dataclass(cls) or _is_namedtuple(cls) or typing.is_typeddict(cls):
        return _record(cls)
    if issubclass(cls, PurePath):
        return _path(cls)
    if cls is type:
        return _instance(type, "Input should be a type", "custom-error[is-instance[type]]")
    name = cls.__name__
    return _instance(cls, f"Input should be an instance of {name}", f"is-instance[{name}]")


def _callable(value: Any, strict: bool) -> Any:
    if callable(value):
        return value
    _fail("Input should be callable")


def _path(cls: type[PurePath]) -> _Node:
    message = f"Input is not a valid path for {cls!r}"

    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        if not strict and isinstance(value, str):
            return cls(value)
        _fail(message)

    tag = f"lax-or-strict[lax=union[json-or-python[json=function-after[path_validator(), str],python=is-instance[{cls.__name__}]],function-after[path_validator(), str]],strict=json-or-python[json=function-after[path_validator(), str],python=is-instance[{cls.__name__}]]]"
    return _Node(coerce, tag, (cls,))


def _struct(cls: type[msgspec.Struct]) -> _Node:
    # Not Prefect's (it takes Structs as arbitrary types, instances only): skiff converts.
    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        if strict:
            _fail(f"Input should be an instance of {cls.__name__}")
        try:
            return msgspec.convert(value, cls, strict=False)
        except msgspec.ValidationError as exc:
            text, _, where = str(exc).partition(" - at `$")
            loc = tuple(int(p) if p.isdigit() else p for p in re.findall(r"\w+", where))
            raise _Invalid([(loc, text)]) from None

    return _Node(coerce, cls.__name__, (cls,))


def _is_namedtuple(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _fields(cls: type) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = {}
    if dataclasses.is_dataclass(cls):
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}
    if _is_namedtuple(cls):
        return {name: hints.get(name, Any) for name in cls._fields}  # type: ignore[attr-defined]
    return hints


def _record(cls: type) -> _Node:
    # Dataclasses, NamedTuples and TypedDicts: fields validated by name; field coercers are
    # built on first use, so a dataclass may refer to itself.
    plan: list[Any] = []
    name = cls.__name__
    is_tuple, is_dict = _is_namedtuple(cls), typing.is_typeddict(cls)
    if is_tuple:
        mismatch = f"Input should be a tuple, list, dictionary or an instance of {name}"
    else:
        mismatch = (
            "Input should be a valid dictionary"
            if is_dict
            else (f"Input should be a dictionary or an instance of {name}")
        )

    def coerce(value: Any, strict: bool) -> Any:
        if not plan:
            fields = {k: _node(t).fn for k, t in _fields(cls).items()}
            plan.append((fields, _required(cls, fields)))
        fields, required = plan[0]
        if not is_dict and isinstance(value, cls):
            if not is_tuple:
                return value  # pydantic keeps a dataclass instance as given
            value = tuple(typing.cast(tuple[Any, ...], value))
        positional = is_tuple and isinstance(value, (list, tuple, set, frozenset))
        if positional:
            if len(value) > len(fields):
                _fail(
                    f"NamedTuple should have at most {len(fields)} items after validation, not {len(value)}"
                )
            value = dict(zip(fields, value, strict=False))
        elif not isinstance(value, abc.Mapping):  # a dict is taken even in strict mode
            _fail(mismatch)
        out: dict[str, Any] = {}
        errors: Errors = []
        for index, (key, field) in enumerate(fields.items()):
            label = index if positional else key
            if key in value:
                try:
                    out[key] = field(value[key], strict)
                except _Invalid as exc:
                    errors.extend(((label, *loc), msg) for loc, msg in exc.errors)
            elif key in required:
                errors.append(((label,), "Field required"))
        # Prefect's model forbids extra keys, and its config reaches these types
        extra = (
            "Extra inputs are not permitted"
            if is_tuple or is_dict
            else "Unexpected keyword argument"
        )
        errors.extend(((key,), extra) for key in value if key not in fields)
        if errors:
            raise _Invalid(errors)
        return out if is_dict else cls(**out)

    return _Node(coerce, name, (cls,))


def _required(cls: type, fields: dict[str, Any]) -> frozenset[str]:
    if dataclasses.is_dataclass(cls):
        return frozenset(
            f.name
            for f in dataclasses.fields(cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )
    if typing.is_typeddict(cls):
        return frozenset(cls.__required_keys__)  # type: ignore[attr-defined]
    defaults = getattr(cls, "_field_defaults", {})
    return frozenset(k for k in fields if k not in defaults)


# --- containers ---

_ITERABLES = (
    list,
    tuple,
    set,
    frozenset,
    collections.deque,
    range,
    abc.KeysView,
    abc.ValuesView,
    types.GeneratorType,
)


def _items(item: Coerce, values: Any, strict: bool) -> list[Any]:
    out, errors = [], list[tuple[Loc, str]]()
    for index, value in enumerate(values):
        try:
            out.append(item(value, strict))
        except _Invalid as exc:
            errors.extend(((index, *loc), msg) for loc, msg in exc.errors)
    if errors:
        raise _Invalid(errors)
    return out


def _sequence(make: type, args: tuple[Any, ...], tag: str) -> _Node:
    item = _node(args[0] if args else Any)
    message = f"Input should be a valid {make.__name__}"

    def coerce(value: Any, strict: bool) -> Any:
        if type(value) is make if strict else isinstance(value, _ITERABLES):
            return make(_items(item.fn, value, strict))
        _fail(message)

    return _Node(coerce, f"{tag}[{item.tag}]")


def _tuple(args: tuple[Any, ...]) -> _Node:
    if not args or args[-1] is Ellipsis:
        node = _sequence(tuple, args[:1], "tuple")
        return _Node(node.fn, f"tuple[{node.tag[6:-1]}, ...]")
    items = [_node(a) for a in args]

    def coerce(value: Any, strict: bool) -> Any:
        if not (type(value) is tuple if strict else isinstance(value, _ITERABLES)):
            _fail("Input should be a valid tuple")
        values = list(value)
        if len(values) > len(items):
            _fail(
                f"Tuple should have at most {len(items)} items after validation, not {len(values)}"
            )
        out, errors = [], list[tuple[Loc, str]]()
        for index, node in enumerate(items):
            if index >= len(values):
                errors.append(((index,), "Field required"))
                continue
            try:
                out.append(node.fn(values[index], strict))
            except _Invalid as exc:
                errors.extend(((index, *loc), msg) for loc, msg in exc.errors)
        if errors:
            raise _Invalid(errors)
        return tuple(out)

    return _Node(coerce, f"tuple[{', '.join(n.tag for n in items)}]")


def _abstract_sequence(args: tuple[Any, ...]) -> _Node:
    item = _node(args[0] if args else Any)

    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, (str, bytes)):
            _fail(f"'{type(value).__name__}' instances are not allowed as a Sequence value")
        if not isinstance(value, abc.Sequence):
            _fail("Input should be an instance of Sequence")
        items = _items(item.fn, value, strict)
        return tuple(items) if isinstance(value, tuple) else items

    tag = f"json-or-python[json=list[{item.tag}],python=chain[is-instance[Sequence],function-wrap[sequence_validator()]]]"
    return _Node(coerce, tag)


def _mapping(args: tuple[Any, ...]) -> _Node:
    key_node, value_node = (_node(a) for a in (args or (Any, Any)))
    keys, values = key_node.fn, value_node.fn

    def coerce(value: Any, strict: bool) -> Any:
        if not (type(value) is dict if strict else isinstance(value, abc.Mapping)):
            _fail("Input should be a valid dictionary")
        out, errors = {}, list[tuple[Loc, str]]()
        for key, item in value.items():
            good = True
            try:
                new_key = keys(key, strict)
            except _Invalid as exc:
                good = False
                errors.extend(((key, "[key]", *loc), msg) for loc, msg in exc.errors)
            try:
                item = values(item, strict)
            except _Invalid as exc:
                good = False
                errors.extend(((key, *loc), msg) for loc, msg in exc.errors)
            if good:
                out[new_key] = item
        if errors:
            raise _Invalid(errors)
        return out

    return _Node(coerce, f"dict[{key_node.tag},{value_node.tag}]")


def _container(origin: Any, args: tuple[Any, ...]) -> _Node | None:
    if origin in (list, abc.MutableSequence):
        return _sequence(list, args, "list")
    if origin in (set, abc.Set, abc.MutableSet):
        return _sequence(set, args, "set")
    if origin is frozenset:
        return _sequence(frozenset, args, "frozenset")
    if origin is tuple:
        return _tuple(args)
    if origin is abc.Sequence:
        return _abstract_sequence(args)
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        return _mapping(args)
    if origin in (abc.Iterable, abc.Iterator, abc.Collection):
        return _ANY  # pydantic wraps these in a lazy iterator; skiff leaves them as given
    if origin in (abc.Callable, typing.Callable):
        return _Node(_callable, "callable")
    return None


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
    if isinstance(obj, _AS_STR) or type(obj).__module__.split(".")[0] in _PYDANTIC_MODULES:
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
