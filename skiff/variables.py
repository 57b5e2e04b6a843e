"""Variables: Prefect's ``prefect.variables.Variable``, named JSON values kept on the server.

``Variable.get(name, default=None)``, ``Variable.set(name, value, tags=None, overwrite=False)``
and ``Variable.unset(name)``, with ``aget``/``aset``/``aunset`` twins. Like Prefect's, the sync
names return a coroutine when called from async code (an async flow or task, or a running
event loop outside any run). Each operation is written once (:func:`_get`, :func:`_set`,
:func:`_unset`) and driven by a :class:`~skiff.Client` or an :class:`~skiff.AsyncClient`
built from the current run's settings, else the environment (``PREFECT_API_URL``).

Values are JSON: str, int, float, bool, None, and lists (or tuples) and dicts with string
keys of those, at most 5000 characters encoded. Bad input raises
:class:`~skiff.ValidationError` before anything is sent; setting a variable that exists
without ``overwrite=True`` raises :class:`VariableAlreadyExistsError`. Both are
``ValueError``s, as Prefect's errors are.
"""

from __future__ import annotations

import math
import re
import typing
from typing import TYPE_CHECKING, Any, Generic, overload

import msgspec

from skiff._engine._dispatch import Steps, arun, dispatch, run
from skiff._exceptions import NotFoundError, SkiffError, ValidationError

__all__ = ["Variable", "VariableAlreadyExistsError"]

VariableValue = str | int | bool | float | dict[str, Any] | list[Any] | None
if TYPE_CHECKING:  # a default (PEP 696) lets a bare ``Variable.get`` be typed; 3.11 lacks it
    from typing_extensions import TypeVar

    T = TypeVar("T", bound=VariableValue, default=VariableValue)
else:
    T = typing.TypeVar("T", bound=VariableValue)

MAX_VARIABLE_NAME_LENGTH = 255
MAX_VARIABLE_VALUE_LENGTH = 5000
_NAME = re.compile(r"^[a-z0-9-_]*$")


class VariableAlreadyExistsError(SkiffError, ValueError):
    """``Variable.set`` found a variable with that name; pass ``overwrite=True`` to replace it."""


# ---------------------------------------------------------------------- validation
def _check_name(label: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationError(
            f"{label}(): `name` must be a non-empty string, got {name!r}; e.g. 'my_variable'"
        )
    if len(name) > MAX_VARIABLE_NAME_LENGTH:
        raise ValidationError(
            f"{label}(): `name` is {len(name)} characters; the server allows at most "
            f"{MAX_VARIABLE_NAME_LENGTH}"
        )
    if not _NAME.match(name):
        raise ValidationError(
            f"{label}(): invalid `name` {name!r}: Variable name must only contain lowercase "
            "letters, numbers, and dashes or underscores (e.g. 'my_variable')"
        )
    return name


def _json(value: object, where: str) -> Any:
    """``value`` as plain JSON types (tuples become lists); raises TypeError or ValueError."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}: out of range float values are not JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}; JSON object keys are strings")
            out[key] = _json(item, f"{where}[{key!r}]")
        return out
    raise TypeError(f"{where} is a {type(value).__name__}")


def _check_value(label: str, value: object) -> VariableValue:
    try:
        checked: VariableValue = _json(value, "the value")
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{label}(): Variable value must be serializable to JSON ({exc}); use str, int, "
            "float, bool, None, or lists and dicts with string keys of those"
        ) from None
    size = len(msgspec.json.encode(checked))
    if checked is not None and size > MAX_VARIABLE_VALUE_LENGTH:
        raise ValidationError(
            f"{label}(): Variable value must be less than {MAX_VARIABLE_VALUE_LENGTH} "
            f"characters as JSON (it is {size}); store large data elsewhere, e.g. in a block"
        )
    return checked


def _check_tags(label: str, tags: object) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, (list, tuple)) and all(isinstance(t, str) for t in tags):
        return list(tags)
    raise ValidationError(f"{label}(): `tags` must be a list of strings or None, got {tags!r}")


# ---------------------------------------------------------------------- operations
def _get(name: str, default: Any) -> Steps[Any]:
    try:
        variable = yield lambda client: client.variables.read_by_name(name)
    except NotFoundError:
        return default
    return variable.value


def _set(
    cls: type[Variable[Any]], name: str, value: object, tags: object, overwrite: bool
) -> Steps[Variable[Any]]:
    label = "Variable.set"
    _check_name(label, name)
    checked = _check_value(label, value)
    tag_list = _check_tags(label, tags)
    try:
        yield lambda client: client.variables.read_by_name(name)
    except NotFoundError:
        yield lambda client: client.variables.create(name=name, value=checked, tags=tag_list)
        return cls(name=name, value=checked, tags=tag_list)
    if not overwrite:
        raise VariableAlreadyExistsError(
            f"Variable {name!r} already exists. Use `overwrite=True` to update it."
        )
    yield lambda client: client.variables.update_by_name(
        name, new_name=name, value=checked, tags=tag_list
    )
    stored = yield lambda client: client.variables.read_by_name(name)
    return cls(name=stored.name, value=stored.value, tags=stored.tags or [])


def _unset(name: str) -> Steps[bool]:
    try:
        yield lambda client: client.variables.delete_by_name(name)
    except NotFoundError:
        return False
    return True


# ---------------------------------------------------------------------- the class
class Variable(Generic[T]):
    """A named, mutable JSON value shared across flows and tasks (``name``, ``value``, ``tags``).

    ``Variable[str].get("x")`` types the value, as in Prefect.
    """

    __slots__ = ("name", "tags", "value")

    def __init__(self, *, name: str, value: VariableValue, tags: list[str] | None = None) -> None:
        self.name = name
        self.value = value
        self.tags = tags

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict, as pydantic's ``model_dump`` gives them."""
        return {"name": self.name, "value": self.value, "tags": self.tags}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Variable):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # mutable, like a pydantic model

    def __repr__(self) -> str:
        return f"Variable(name={self.name!r}, value={self.value!r}, tags={self.tags!r})"

    def __str__(self) -> str:
        return f"name={self.name!r} value={self.value!r} tags={self.tags!r}"

    # ------------------------------------------------------------------ set
    @classmethod
    async def aset(
        cls,
        name: str,
        value: VariableValue,
        tags: list[str] | None = None,
        overwrite: bool = False,
    ) -> Variable[Any]:
        """Create the variable, or replace it with ``overwrite=True``; returns it as stored."""
        return await arun(_set(cls, name, value, tags, overwrite))

    @classmethod
    @dispatch(aset)
    def set(
        cls,
        name: str,
        value: VariableValue,
        tags: list[str] | None = None,
        overwrite: bool = False,
    ) -> Variable[Any]:
        """Create the variable, or replace it with ``overwrite=True``; returns it as stored.

        An existing variable without ``overwrite=True`` raises
        :class:`VariableAlreadyExistsError` (a ``ValueError``). Replacing sets ``tags`` too
        (``None`` clears them), as Prefect does. Example::

            Variable.set("my_var", {"threshold": 3}, tags=["etl"], overwrite=True)
        """
        return run(_set(cls, name, value, tags, overwrite))

    # ------------------------------------------------------------------ get
    @overload
    @classmethod
    async def aget(cls, name: str) -> T | None: ...

    @overload
    @classmethod
    async def aget(cls, name: str, default: T) -> T: ...

    @classmethod
    async def aget(cls, name: str, default: VariableValue = None) -> VariableValue:
        """The variable's value, or ``default`` when there is no variable of that name."""
        return await arun(_get(name, default))

    @overload
    @classmethod
    def get(cls, name: str) -> T | None: ...

    @overload
    @classmethod
    def get(cls, name: str, default: T) -> T: ...

    @classmethod
    @dispatch(aget)
    def get(cls, name: str, default: VariableValue = None) -> VariableValue:
        """The variable's value, or ``default`` when there is no variable of that name.

        Example::

            threshold = Variable.get("threshold", default=3)
        """
        return run(_get(name, default))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ unset
    @classmethod
    async def aunset(cls, name: str) -> bool:
        """Delete the variable; True if it existed, False if there was none."""
        return await arun(_unset(name))

    @classmethod
    @dispatch(aunset)
    def unset(cls, name: str) -> bool:
        """Delete the variable; True if it existed, False if there was none."""
        return run(_unset(name))
