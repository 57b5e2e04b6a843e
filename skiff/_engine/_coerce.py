"""The annotation compiler: each annotation becomes a :class:`~skiff._engine._lax.Node` once.

:func:`node_of` compiles an annotation (cached by the type and its repr) into a coercer that
follows pydantic's lax rules and words errors as pydantic does: ``Any``, ``Annotated`` and
``NewType`` pass through to what they wrap; smart unions try an exact type, then each member
strictly, then laxly, in the order written; then literals, ``type[...]``, scalars (``_lax``),
collections and records (``_containers``), enums, paths, msgspec Structs (converted), and any
other class as an instance check. An annotation that names a pydantic type (a model,
``Field`` metadata) is validated by pydantic itself, imported only then.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sys
import types
import typing
from pathlib import PurePath
from typing import Any, Union

import msgspec

from skiff._engine._containers import container, is_namedtuple, record, record_fields
from skiff._engine._lax import NONE, SCALARS, Errors, Invalid, Node, fail

__all__ = ["PYDANTIC_MODULES", "node_of"]


_NODES: dict[Any, Node] = {}


def node_of(tp: Any) -> Node:
    """The node of annotation ``tp``, compiled once and cached."""
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


_ANY = Node(_passthrough, "any")


def _build(tp: Any) -> Node:
    if tp is Any or tp is object or tp is inspect.Parameter.empty or isinstance(tp, typing.TypeVar):
        return _ANY
    if tp is None or tp is type(None):
        return NONE
    if isinstance(tp, str):  # an unresolved forward reference inside a type
        return _ANY
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _needs_pydantic(tp):
        return _pydantic(tp)
    if origin is typing.Annotated:
        return node_of(args[0])
    if hasattr(tp, "__supertype__"):  # NewType
        return node_of(tp.__supertype__)
    if origin is Union or origin is types.UnionType:
        return _union(args)
    if origin is typing.Literal:
        return _literal(args)
    if origin is type:
        return _subclass(args[0] if args else Any)
    if tp in SCALARS:
        return SCALARS[tp]
    collection = container(origin or tp, args, node_of)
    if collection is not None:
        return collection
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
        if any(type(m).__module__.split(".")[0] in PYDANTIC_MODULES for m in metadata):
            return True
    if isinstance(tp, type):
        if any(c.__module__.split(".")[0] in PYDANTIC_MODULES for c in tp.__mro__):
            return True
        if hasattr(tp, "__pydantic_validator__"):
            return True
        if dataclasses.is_dataclass(tp) or is_namedtuple(tp) or typing.is_typeddict(tp):
            return any(_needs_pydantic(t, seen) for t in record_fields(tp).values())
        return False
    return any(_needs_pydantic(a, seen) for a in typing.get_args(tp))


PYDANTIC_MODULES = frozenset({"pydantic", "pydantic_core", "annotated_types"})


def _pydantic(tp: Any) -> Node:
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
            raise Invalid([(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from None

    return Node(coerce, getattr(tp, "__name__", str(tp)))


def _union(members: tuple[Any, ...]) -> Node:
    nullable = type(None) in members
    nodes = [node_of(m) for m in members if m is not type(None)]
    if len(nodes) == 1:
        inner = nodes[0]
        if not nullable:
            return inner

        def optional(value: Any, strict: bool) -> Any:
            return None if value is None else inner.fn(value, strict)

        return Node(optional, f"nullable[{inner.tag}]", (*inner.exact, type(None)))

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
                except Invalid as exc:
                    errors.extend(((node.tag, *loc), msg) for loc, msg in exc.errors)
        raise Invalid(errors)

    tag = f"union[{','.join(n.tag for n in nodes)}]"
    return Node(union, f"nullable[{tag}]" if nullable else tag)


def _expected(values: Any) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _literal(values: tuple[Any, ...]) -> Node:
    message = f"Input should be {_expected(values)}"

    def literal(value: Any, strict: bool) -> Any:
        for expected in values:
            kind = type(expected)
            if value is expected or (type(value) is kind and value == expected):
                return expected
            # lax: a number equal to an int literal (1.0, True) matches it
            if not strict and kind is int and isinstance(value, (int, float)) and value == expected:
                return expected
        fail(message)

    return Node(literal, f"literal[{','.join(repr(v) for v in values)}]")


def _subclass(base: Any) -> Node:
    if base is Any:
        return _class(type)

    def subclass(value: Any, strict: bool) -> Any:
        if isinstance(value, type) and issubclass(value, base):
            return value
        fail(f"Input should be a subclass of {base.__name__}")

    return Node(subclass, f"is-subclass[{base.__name__}]")


def _enum(cls: type[enum.Enum]) -> Node:
    message = f"Input should be {_expected([m.value for m in cls])}"
    lax_int, lax_str = SCALARS[int].fn, SCALARS[str].fn
    base = lax_int if issubclass(cls, int) else lax_str if issubclass(cls, str) else None

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
                except (Invalid, ValueError):
                    pass
        fail(message)

    return Node(coerce, f"enum[{cls.__name__}]", (cls,))


def _instance(cls: type, message: str, tag: str) -> Node:
    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        fail(message)

    return Node(coerce, tag, (cls,))


def _class(cls: type) -> Node:
    if issubclass(cls, enum.Enum):
        return _enum(cls)
    if issubclass(cls, msgspec.Struct):
        return _struct(cls)
    if dataclasses.is_dataclass(cls) or is_namedtuple(cls) or typing.is_typeddict(cls):
        return record(cls, node_of)
    if issubclass(cls, PurePath):
        return _path(cls)
    if cls is type:
        return _instance(type, "Input should be a type", "custom-error[is-instance[type]]")
    name = cls.__name__
    return _instance(cls, f"Input should be an instance of {name}", f"is-instance[{name}]")


def _path(cls: type[PurePath]) -> Node:
    message = f"Input is not a valid path for {cls!r}"

    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        if not strict and isinstance(value, str):
            return cls(value)
        fail(message)

    tag = f"lax-or-strict[lax=union[json-or-python[json=function-after[path_validator(), str],python=is-instance[{cls.__name__}]],function-after[path_validator(), str]],strict=json-or-python[json=function-after[path_validator(), str],python=is-instance[{cls.__name__}]]]"
    return Node(coerce, tag, (cls,))


def _struct(cls: type[msgspec.Struct]) -> Node:
    # Not Prefect's (it takes Structs as arbitrary types, instances only): skiff converts.
    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, cls):
            return value
        if strict:
            fail(f"Input should be an instance of {cls.__name__}")
        try:
            return msgspec.convert(value, cls, strict=False)
        except msgspec.ValidationError as exc:
            text, _, where = str(exc).partition(" - at `$")
            loc = tuple(int(p) if p.isdigit() else p for p in re.findall(r"\w+", where))
            raise Invalid([(loc, text)]) from None

    return Node(coerce, cls.__name__, (cls,))
