"""Collections and records: the annotations whose values hold other values.

``list``, ``set``, ``frozenset``, ``tuple`` (fixed or ``...``), ``Sequence``, ``dict`` and
``Mapping`` (and their ``collections.abc`` twins) validate each item, every error at once with
its index or key; ``Callable`` checks ``callable()``. Dataclasses, NamedTuples and TypedDicts
validate their fields by name, refusing extra keys as Prefect's model does. Item and field
annotations are compiled by the caller's ``node_of`` (``skiff._engine._coerce.node_of``), which
this module does not import: the compiler calls in here.
"""

from __future__ import annotations

import collections
import collections.abc as abc
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from skiff._engine._lax import Coerce, Errors, Invalid, Loc, Node, fail

__all__ = ["NodeOf", "container", "is_namedtuple", "record", "record_fields"]

NodeOf = Callable[[Any], Node]  # the compiler: an annotation's (cached) node


def is_namedtuple(cls: Any) -> bool:
    """``cls`` is a ``NamedTuple`` class."""
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def record_fields(cls: type) -> dict[str, Any]:
    """The annotation of each field a dataclass, NamedTuple or TypedDict takes, by name."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = {}
    if dataclasses.is_dataclass(cls):
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}
    if is_namedtuple(cls):
        return {name: hints.get(name, Any) for name in cls._fields}  # type: ignore[attr-defined]
    return hints


def record(cls: type, node_of: NodeOf) -> Node:
    """A dataclass, NamedTuple or TypedDict: fields validated by name.

    Field coercers are built with ``node_of`` on first use, so a dataclass may refer to itself.
    """
    plan: list[Any] = []
    name = cls.__name__
    is_tuple, is_dict = is_namedtuple(cls), typing.is_typeddict(cls)
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
            fields = {k: node_of(t).fn for k, t in record_fields(cls).items()}
            plan.append((fields, _required(cls, fields)))
        fields, required = plan[0]
        if not is_dict and isinstance(value, cls):
            if not is_tuple:
                return value  # pydantic keeps a dataclass instance as given
            value = tuple(typing.cast(tuple[Any, ...], value))
        positional = is_tuple and isinstance(value, (list, tuple, set, frozenset))
        if positional:
            if len(value) > len(fields):
                fail(
                    f"NamedTuple should have at most {len(fields)} items after validation, not {len(value)}"
                )
            value = dict(zip(fields, value, strict=False))
        elif not isinstance(value, abc.Mapping):  # a dict is taken even in strict mode
            fail(mismatch)
        out: dict[str, Any] = {}
        errors: Errors = []
        for index, (key, field) in enumerate(fields.items()):
            label = index if positional else key
            if key in value:
                try:
                    out[key] = field(value[key], strict)
                except Invalid as exc:
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
            raise Invalid(errors)
        return out if is_dict else cls(**out)

    return Node(coerce, name, (cls,))


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
        except Invalid as exc:
            errors.extend(((index, *loc), msg) for loc, msg in exc.errors)
    if errors:
        raise Invalid(errors)
    return out


def _sequence(make: type, args: tuple[Any, ...], tag: str, node_of: NodeOf) -> Node:
    item = node_of(args[0] if args else Any)
    message = f"Input should be a valid {make.__name__}"

    def coerce(value: Any, strict: bool) -> Any:
        if type(value) is make if strict else isinstance(value, _ITERABLES):
            return make(_items(item.fn, value, strict))
        fail(message)

    return Node(coerce, f"{tag}[{item.tag}]")


def _tuple(args: tuple[Any, ...], node_of: NodeOf) -> Node:
    if not args or args[-1] is Ellipsis:
        node = _sequence(tuple, args[:1], "tuple", node_of)
        return Node(node.fn, f"tuple[{node.tag[6:-1]}, ...]")
    items = [node_of(a) for a in args]

    def coerce(value: Any, strict: bool) -> Any:
        if not (type(value) is tuple if strict else isinstance(value, _ITERABLES)):
            fail("Input should be a valid tuple")
        values = list(value)
        if len(values) > len(items):
            fail(
                f"Tuple should have at most {len(items)} items after validation, not {len(values)}"
            )
        out, errors = [], list[tuple[Loc, str]]()
        for index, node in enumerate(items):
            if index >= len(values):
                errors.append(((index,), "Field required"))
                continue
            try:
                out.append(node.fn(values[index], strict))
            except Invalid as exc:
                errors.extend(((index, *loc), msg) for loc, msg in exc.errors)
        if errors:
            raise Invalid(errors)
        return tuple(out)

    return Node(coerce, f"tuple[{', '.join(n.tag for n in items)}]")


def _abstract_sequence(args: tuple[Any, ...], node_of: NodeOf) -> Node:
    item = node_of(args[0] if args else Any)

    def coerce(value: Any, strict: bool) -> Any:
        if isinstance(value, (str, bytes)):
            fail(f"'{type(value).__name__}' instances are not allowed as a Sequence value")
        if not isinstance(value, abc.Sequence):
            fail("Input should be an instance of Sequence")
        items = _items(item.fn, value, strict)
        return tuple(items) if isinstance(value, tuple) else items

    tag = f"json-or-python[json=list[{item.tag}],python=chain[is-instance[Sequence],function-wrap[sequence_validator()]]]"
    return Node(coerce, tag)


def _mapping(args: tuple[Any, ...], node_of: NodeOf) -> Node:
    key_node, value_node = (node_of(a) for a in (args or (Any, Any)))
    keys, values = key_node.fn, value_node.fn

    def coerce(value: Any, strict: bool) -> Any:
        if not (type(value) is dict if strict else isinstance(value, abc.Mapping)):
            fail("Input should be a valid dictionary")
        out, errors = {}, list[tuple[Loc, str]]()
        for key, item in value.items():
            good = True
            try:
                new_key = keys(key, strict)
            except Invalid as exc:
                good = False
                errors.extend(((key, "[key]", *loc), msg) for loc, msg in exc.errors)
            try:
                item = values(item, strict)
            except Invalid as exc:
                good = False
                errors.extend(((key, *loc), msg) for loc, msg in exc.errors)
            if good:
                out[new_key] = item
        if errors:
            raise Invalid(errors)
        return out

    return Node(coerce, f"dict[{key_node.tag},{value_node.tag}]")


def _callable(value: Any, strict: bool) -> Any:
    if callable(value):
        return value
    fail("Input should be callable")


def container(origin: Any, args: tuple[Any, ...], node_of: NodeOf) -> Node | None:
    """The node of a collection type (``origin[args]``), its items' from ``node_of``; None
    when ``origin`` is no collection."""
    if origin in (list, abc.MutableSequence):
        return _sequence(list, args, "list", node_of)
    if origin in (set, abc.Set, abc.MutableSet):
        return _sequence(set, args, "set", node_of)
    if origin is frozenset:
        return _sequence(frozenset, args, "frozenset", node_of)
    if origin is tuple:
        return _tuple(args, node_of)
    if origin is abc.Sequence:
        return _abstract_sequence(args, node_of)
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        return _mapping(args, node_of)
    if origin in (abc.Iterable, abc.Iterator, abc.Collection):
        return node_of(Any)  # pydantic wraps these in a lazy iterator; skiff leaves them as given
    if origin in (abc.Callable, typing.Callable):
        return Node(_callable, "callable")
    return None
