"""Coercion primitives, and pydantic's lax rules for scalars, dates and times.

A coercer is ``(value, strict) -> value``: it returns the value for its type or raises
:class:`Invalid` with pydantic's words. :class:`Node` pairs one with what a union needs.
``SCALARS`` maps ``int``, ``float``, ``bool``, ``str``, ``bytes``, ``Decimal``, ``UUID`` and
the ``datetime`` types to theirs (lax: ``"3"`` -> 3, ``"yes"`` -> True, speedate's ISO 8601
dates, times and durations, unix timestamps); ``NONE`` is ``None``'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["NONE", "SCALARS", "Coerce", "Errors", "Invalid", "Loc", "Node", "fail"]

Loc = tuple[Any, ...]
Errors = list[tuple[Loc, str]]
Coerce = Callable[[Any, bool], Any]  # (value, strict) -> value, or raises Invalid


class Invalid(Exception):
    """A value a coercer refused: ``errors`` are ``(loc, msg)`` pairs, loc relative to it."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors


def fail(msg: str) -> NoReturn:
    """Refuse the value at hand with pydantic's ``msg``."""
    raise Invalid([((), msg)])


class Node:
    """A compiled annotation: ``fn`` coerces; ``tag`` is pydantic's name for it as a union
    member (prefixed to its errors' locations); ``exact`` are the types it returns as they
    are (a union's first choice)."""

    __slots__ = ("exact", "fn", "tag")

    def __init__(self, fn: Coerce, tag: str, exact: tuple[type, ...] = ()) -> None:
        self.fn, self.tag, self.exact = fn, tag, exact


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
        fail("Input should be a valid integer")
    if isinstance(value, int):  # bool, IntEnum
        return int(value)
    if isinstance(value, enum.Enum):  # pydantic returns a non-int value unchecked
        return _int(value.value, False) if isinstance(value.value, int) else value.value
    if isinstance(value, (float, decimal.Decimal)):
        try:
            whole = int(value)
        except (ValueError, OverflowError):
            fail("Input should be a finite number")
        if whole != value:
            fail("Input should be a valid integer, got a number with a fractional part")
        if isinstance(value, float) and abs(whole) >= 2**63:
            fail("Unable to parse input string as an integer, exceeded maximum size")
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
        fail("Input should be a valid integer, unable to parse string as an integer")
    fail("Input should be a valid integer")


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
            fail("Input should be a valid number, unable to parse string as a number")
    fail("Input should be a valid number")


def _bool(value: Any, strict: bool) -> Any:
    if type(value) is bool:
        return value
    if not strict:
        if isinstance(value, _TEXT):
            text = _text(value).lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            fail("Input should be a valid boolean, unable to interpret input")
        if isinstance(value, (int, float, decimal.Decimal)):
            if value == 0 or value == 1:
                return bool(value)
            number = float(value)
            if number.is_integer() and abs(number) < 2**63:
                fail("Input should be a valid boolean, unable to interpret input")
    fail("Input should be a valid boolean")


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
                fail("Input should be a valid string, unable to parse raw data as a unicode string")
    fail("Input should be a valid string")


def _bytes(value: Any, strict: bool) -> Any:
    if type(value) is bytes:
        return value
    if not strict:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    fail("Input should be a valid bytes")


def _none(value: Any, strict: bool) -> Any:
    if value is None:
        return None
    fail("Input should be None")


def _decimal(value: Any, strict: bool) -> Any:
    if isinstance(value, decimal.Decimal):
        number = value
    elif strict or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        fail("Decimal input should be an integer, float, string or Decimal object")
    else:
        try:
            number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
        except decimal.InvalidOperation:
            fail("Input should be a valid decimal")
    if not number.is_finite():
        fail("Input should be a finite number")
    return number


def _uuid(value: Any, strict: bool) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if strict or not isinstance(value, _TEXT):
        fail("UUID input should be a string, bytes or UUID object")
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return uuid.UUID(bytes=bytes(value))
    text = _text(value)
    try:
        return uuid.UUID(text)
    except ValueError:
        if not isinstance(value, str):
            fail(
                f"Input should be a valid UUID, invalid length: expected 16 bytes, found {len(value)}"
            )
        fail(f"Input should be a valid UUID, {_uuid_problem(text)}")


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
        fail(f"Input should be a valid {label}, {_date_problem(text)}")
    if len(text) == 10:
        return dt.datetime(day.year, day.month, day.day)
    moment = _parse_time(text[11:]) if text[10] in "Tt _" else None
    if moment is None:
        fail(
            f"Input should be a valid {label}, unexpected extra characters at the end of the input"
        )
    return dt.datetime.combine(day, moment, tzinfo=moment.tzinfo)


def _from_timestamp(seconds: Any, label: str) -> dt.datetime:
    seconds = float(seconds)
    if seconds != seconds:
        fail(f"Input should be a valid {label}, NaN values not permitted")
    if abs(seconds) > 2e10:  # pydantic reads larger numbers as milliseconds
        seconds /= 1000
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        fail(
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
    fail("Input should be a valid datetime")


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
                fail("Datetimes provided to dates should have zero time - e.g. be exact dates")
            return moment.date()
    fail("Input should be a valid date")


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
            fail(f"Input should be in a valid time format, {problem}")
    fail("Input should be a valid time")


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
                fail("Input should be a valid timedelta, NaN values not permitted")
            try:
                return dt.timedelta(seconds=float(value))
            except OverflowError:
                fail("Input should be a valid timedelta, durations may not exceed 999,999,999 days")
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
            fail(f"Input should be a valid timedelta, {problem}")
    fail("Input should be a valid timedelta")


SCALARS: dict[Any, Node] = {
    int: Node(_int, "int", (int,)),
    float: Node(_float, "float", (float,)),
    bool: Node(_bool, "bool", (bool,)),
    str: Node(_str, "str", (str,)),
    bytes: Node(_bytes, "bytes", (bytes,)),
    decimal.Decimal: Node(_decimal, "decimal", (decimal.Decimal,)),
    uuid.UUID: Node(_uuid, "uuid", (uuid.UUID,)),
    dt.datetime: Node(_datetime, "datetime", (dt.datetime,)),
    dt.date: Node(_date, "date", (dt.date,)),
    dt.time: Node(_time, "time", (dt.time,)),
    dt.timedelta: Node(_timedelta, "timedelta", (dt.timedelta,)),
}

NONE = Node(_none, "none", (type(None),))
