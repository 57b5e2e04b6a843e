"""Flow parameter validation and serialization, compared with real Prefect 3.9.1.

The same cases run here through skiff and, in one subprocess, through Prefect's own
``Flow.validate_parameters`` / ``Flow.serialize_parameters`` (with the JSON mode its client
sends), with the types defined once in ``SHARED``; values are compared by ``describe``
(type and repr; datetimes by ISO text, as pydantic's ``TzInfo(0)`` is skiff's ``utc``).
The Prefect side is skipped when the server environment is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from scripts import prefect_server
from skiff._engine import _parameters as params
from skiff._engine._parameters import (
    ParameterTypeError,
    SignatureMismatchError,
    failure_message,
    serialize,
    validate,
)
from skiff._exceptions import ValidationError
from tests.engine.conftest import Server, wait_for

ROOT = Path(__file__).resolve().parents[2]
PREFECT_PYTHON = prefect_server.env_dir_for() / "bin" / "python"

SHARED = textwrap.dedent(
    """
    import collections, datetime as dt, decimal, enum, ipaddress, pathlib, re, typing, uuid
    from dataclasses import dataclass, field
    from typing import Annotated, Any, Literal, NamedTuple, Optional, Union

    import annotated_types
    import pydantic
    from pydantic import BaseModel, Field

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 2

    class Plain(enum.Enum):
        A = 1
        B = 2

    @dataclass
    class Config:
        source: str
        limit: int = 10
        columns: list[str] = field(default_factory=list)

    @dataclass
    class Outer:
        inner: Config
        tags: list[int] = field(default_factory=list)

    class Point(NamedTuple):
        a: int
        b: str = "x"

    class Thing:
        def __init__(self, v=1):
            self.v = v
        def __repr__(self):
            return f"Thing({self.v})"

    class Order(BaseModel):
        item: str
        quantity: int = 1
        price: float

    @dataclass
    class Cart:
        order: Order
        note: str = ""

    class Slots:
        __slots__ = ("a",)
        def __init__(self):
            self.a = 1

    class Cycle:
        def __init__(self):
            self.me = self

    class WithSa:
        def __init__(self):
            self._sa_state, self.name, self._private = 1, "n", 2

    def describe(value):
        if isinstance(value, (dt.datetime, dt.time)):
            return f"{type(value).__name__}({value.isoformat()})"
        if isinstance(value, (set, frozenset)):
            return f"{type(value).__name__}:{sorted(map(repr, value))}"
        return f"{type(value).__name__}:{value!r}"
    """
)

# (annotation, [value expressions]): each becomes ``def f(x: <annotation>)`` called with x.
SINGLE: list[tuple[str, list[str]]] = [
    ("int", ["'3'", "3", "3.0", "3.5", "True", "' 3 '", "'1_000'", "'+3'", "'3.00'", "b'3'"]),
    ("int", ["None", "'x'", "''", "'0x10'", "'3.5'", "'1e3'", "[3]", "float('inf')", "'3.'"]),
    ("int", ["decimal.Decimal('3')", "decimal.Decimal('3.5')", "Plain.A", "Level.LOW", "10**20"]),
    ("float", ["'1.5'", "1", "True", "'inf'", "'1e3'", "' 1.5 '", "b'1.5'", "'x'", "None"]),
    ("bool", ["'true'", "'True'", "'yes'", "'on'", "'1'", "1", "0", "2", "'t'", "'n'", "'off'"]),
    ("bool", ["1.0", "1.5", "2.0", "'x'", "None", "''", "b'true'", "' true'", "-1"]),
    ("str", ["3", "'a'", "b'x'", "1.5", "True", "None", "Color.RED", "Plain.A", "['a']"]),
    ("bytes", ["'abc'", "b'abc'", "3", "bytearray(b'x')"]),
    ("int | str", ["b'\\xff'", "b'7'"]),
    ("'list[int]'", ["['1']"]),
    ("'Optional[Config]'", ["{'source': 's'}"]),
    ("list", ["[1]", "(1, 2)", "{1}", "'ab'", "{'a': 1}"]),
    ("list[int]", ["['1', 2]", "('1', 2)", "'12'", "[1, 'x']", "[1.5]", "None", "range(3)"]),
    ("list[str]", ["['a', 1]", "('a',)"]),
    ("tuple[int, str]", ["[1, 'a']", "('1', 'b')", "[1]", "(1, 'a', 2)", "'ab'"]),
    ("tuple[int, ...]", ["[1, '2']", "[]", "'12'"]),
    ("set[int]", ["[1, 2, 2]", "{'1'}", "'x'", "[1, 'x']"]),
    ("frozenset[int]", ["[1, 2]", "'x'"]),
    ("dict", ["{'a': 1}", "[('a', 1)]", "None"]),
    ("dict[str, int]", ["{'a': '1'}", "{1: 2}", "{'a': 'x', 'b': 'y'}", "{'a': None, 1: 'x'}"]),
    ("dict[int, str]", ["{'1': 'a'}"]),
    ("dict | None", ["None", "{'k': 1}", "'x'"]),
    ("Optional[int]", ["None", "'3'", "'x'"]),
    ("Union[int, str]", ["'3'", "3", "3.5", "None", "True", "b'x'"]),
    ("Union[str, int]", ["3.0"]),
    ("Union[int, float]", ["'3.5'", "'3'", "True"]),
    ("Union[float, int]", ["'3'", "3"]),
    ("Union[int, list[int]]", ["['1']", "'2'"]),
    ("Union[int, list[int], dict[str, int], Config, Thing, dt.datetime]", ["{'a': 'x'}", "1.5"]),
    ("float | str", ["1", "'x'"]),
    ("list[Union[int, str]]", ["[1, None]"]),
    ("Literal['a', 'b']", ["'a'", "'c'", "1"]),
    ("Literal[1, 2]", ["'1'", "1.0", "True", "3"]),
    ("Literal['a', 'b', 'c']", ["'d'"]),
    ("dt.datetime", ["'2024-01-02T03:04:05Z'", "'2024-01-02T03:04:05+02:00'", "'2024-01-02'"]),
    ("dt.datetime", ["1700000000", "'1700000000'", "dt.date(2024, 1, 2)", "'2024-01-02 03:04:05'"]),
    ("dt.datetime", ["'x'", "'2024-13-01'", "'2024/01/02'", "' 2024-01-02'", "None", "1e11"]),
    ("dt.datetime", ["'2024-01-02T25:00:00'", "'2024-01-02T03:04:05.1234567'"]),
    ("dt.date", ["'2024-01-02'", "dt.datetime(2024, 1, 2)", "dt.datetime(2024, 1, 2, 3)", "'x'"]),
    ("dt.date", ["'2024-02-30'", "'2024-01-02T03:00:00'", "1700000000"]),
    ("dt.time", ["'03:04:05'", "'03:04'", "'25:00'", "'x'", "3600"]),
    ("dt.timedelta", ["'PT1H'", "3600", "1.5", "'01:00:00'", "'1 day'", "'1 days, 01:00:00'"]),
    ("dt.timedelta", ["'P1D'", "'-1 day'", "'x'", "'1.5'", "None"]),
    ("uuid.UUID", ["'12345678-1234-5678-1234-567812345678'", "'12345678123456781234567812345678'"]),
    ("uuid.UUID", ["'x'", "5", "'1234'", "'12345678-1234-5678-1234-5678123456789'"]),
    ("decimal.Decimal", ["'1.5'", "1.5", "1", "'x'", "True", "float('nan')", "' 1.5 '"]),
    ("pathlib.Path", ["'/tmp/x'", "pathlib.Path('/a')", "3"]),
    ("Color", ["'red'", "Color.RED", "'green'", "'RED'", "1"]),
    ("Level", ["1", "'1'", "3", "'LOW'", "1.0"]),
    ("Plain", ["'1'", "1", "True"]),
    ("Config", ["Config('s', 5, ['a'])", "{'source': 's', 'limit': '5'}", "{'source': 's'}"]),
    ("Config", ["{'limit': 'x'}", "{'source': 's', 'extra': 1}", "('s', 5)", "'x'"]),
    ("Config", ["Config('s', 'not checked')"]),
    ("list[Config]", ["[{'source': 'a'}]"]),
    ("Outer", ["{'inner': {'source': 1, 'limit': 'x'}, 'tags': ['a']}"]),
    ("Point", ["[1, 'y']", "('1',)", "{'a': 1}", "[1, 2, 3]", "['x']", "[]", "{'b': 1}", "'x'"]),
    ("Any", ["'x'", "None"]),
    ("object", ["1"]),
    ("Thing", ["Thing(2)", "'x'"]),
    ("list[Thing]", ["['x']"]),
    ("type", ["int", "'x'"]),
    ("type[int]", ["bool", "str"]),
    ("typing.Callable", ["len", "1"]),
    ("typing.Sequence[int]", ["[1, '2']", "(1, '2')", "'ab'", "{1, 2}"]),
    ("typing.Mapping[str, int]", ["{'a': '1'}"]),
    ("None", ["None", "1"]),
    ("Order", ["{'item': 'ink', 'quantity': '2', 'price': '4.25'}", "{'quantity': 'q'}", "'x'"]),
    ("Order", ["Order(item='pen', quantity=3, price=1.5)"]),
    ("Optional[Order]", ["None", "{'item': 'a', 'price': 1}"]),
    ("list[Order]", ["[{'item': 1}]"]),
    ("Cart", ["{'order': {'item': 'a', 'price': '2'}}", "{'order': {}}"]),
    ("Union[Order, int]", ["'3'", "{'item': 1}"]),
    ("Union[dict, Config]", ["{'source': 'z'}"]),
    ("int", ["Color.BLUE", "1e20"]),
    ("Point", ["{'a': 1, 'c': 2}", "{1, 2}"]),
    ("Annotated[int, Field(gt=0)]", ["'3'", "'0'"]),
    ("Annotated[int, annotated_types.Gt(0)]", ["'0'"]),
    ("pydantic.HttpUrl", ["'nope'"]),
]

# (signature, parameters): whole calls, for defaults, unknown keys and error order.
CALLS: list[tuple[str, str]] = [
    ("a: int = None, b: int = '3'", "{}"),
    ("a: int = None, b: int = '3'", "{'a': None, 'b': '3'}"),
    ("a: int, b: str = 'x'", "{'a': '1', 'zz': 2}"),
    ("a: int, b: str", "{'b': 'x'}"),
    ("name: str, times: int = 1, loud: bool = False, extra: dict | None = None", "{'name': 1}"),
    ("a: int, b: bool, c: Order", "{'a': 'x', 'b': 'maybe', 'c': {'quantity': 'q'}}"),
    ("a: int, *args: int, b: str = 'x', **kw: int", "{'a': '1', 'args': ('2', 'x'), 'kw': {}}"),
    ("a: int, *args: int, **kw: int", "{'a': '1'}"),
    ("a, b, c", "{'a': 1, 'b': object, 'c': None}"),
]

# Every annotation against every value, in one test; KNOWN lists what differs, and why.
MATRIX_TYPES = [
    "int",
    "float",
    "bool",
    "str",
    "bytes",
    "dt.datetime",
    "dt.date",
    "dt.timedelta",
    "uuid.UUID",
    "decimal.Decimal",
    "Color",
    "Level",
    "Literal['a', 1]",
    "list[int]",
    "tuple[int, ...]",
    "set[str]",
    "dict[str, int]",
    "Optional[float]",
    "Union[int, bool]",
    "Union[bool, int]",
    "Union[str, float]",
    "Union[dt.date, str]",
    "Union[dt.datetime, dt.date]",
    "Union[dict, list]",
    "Union[Config, dict]",
    "Union[list[int], tuple[int, ...]]",
    "Union[int, Color]",
    "Union[Color, str]",
    "Union[Literal['a'], int]",
    "Config",
    "Point",
    "Order",
    "Union[Order, Config]",
]
MATRIX_VALUES = [
    "0",
    "1",
    "-5",
    "2.0",
    "2.5",
    "'0'",
    "'1'",
    "'2.0'",
    "' 7 '",
    "'abc'",
    "''",
    "'true'",
    "'2024-05-06'",
    "'2024-05-06T07:08:09Z'",
    "'12:30:00'",
    "'P2D'",
    "'00000000-0000-0000-0000-000000000001'",
    "True",
    "False",
    "None",
    "b'1'",
    "[1, '2']",
    "('a', 'b')",
    "{'a': 1}",
    "{'source': 'z'}",
    "{'item': 'i', 'price': 1}",
    "{1, 2}",
    "dt.date(2024, 5, 6)",
    "dt.datetime(2024, 5, 6, 1, 2)",
    "dt.timedelta(3)",
    "decimal.Decimal('2')",
    "Color.BLUE",
    "Level.HIGH",
    "uuid.UUID(int=3)",
    "'red'",
    "'a'",
    "float('nan')",
    "1e20",
    "-0.0",
    "'-1'",
    "'1_0'",
    "[]",
    "{}",
    "()",
]
MATRIX = [(f"x: {t}", f"{{'x': {v}}}") for t in MATRIX_TYPES for v in MATRIX_VALUES]
KNOWN = {
    # speedate's wording for strings that are not durations at all
    ("x: dt.timedelta", "{'x': '2024-05-06'}"),
    ("x: dt.timedelta", "{'x': '2024-05-06T07:08:09Z'}"),
    ("x: dt.timedelta", "{'x': '00000000-0000-0000-0000-000000000001'}"),
    # an IntEnum given another enum's member: pydantic's int parser reports an overflow
    ("x: Level", "{'x': Color.BLUE}"),
}

SERIALIZE: list[str] = [
    "1", "'s'", "1.5", "True", "None", "float('nan')", "float('inf')", "10**30",
    "[1, 'a', None]", "(1, 2)", "{3}", "frozenset([4])", "collections.deque([5])",
    "{'a': {'b': [1]}}", "{1: 'a'}", "{'_sa_x': 1, 'y': 2}", "{(1, 2): 3}", "{None: 1}",
    "{True: 1}", "{1.5: 1}", "b'abc'", "b'\\xff'", "bytearray(b'x')",
    "dt.datetime(2024, 1, 2, 3, 4, 5)", "dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)",
    "dt.date(2024, 1, 2)", "dt.time(3, 4)", "dt.timedelta(hours=1, microseconds=5)",
    "decimal.Decimal('3')", "decimal.Decimal('1.50')", "decimal.Decimal('1E+2')",
    "uuid.UUID(int=7)", "pathlib.Path('/tmp/x')", "pathlib.PureWindowsPath('c:/x')",
    "Color.RED", "Level.HIGH", "ipaddress.ip_address('10.0.0.1')", "re.compile('a+')",
    "ipaddress.ip_network('10.0.0.0/8')", "Config('s', 5, ['a'])", "Outer(Config('x'))",
    "Config", "Point(1)", "Order(item='pen', quantity=3, price=1.5)",
    "Cart(Order(item='a', price=1))", "pydantic.SecretStr('pw')",
    "pydantic.HttpUrl('http://x.org')", "Thing(3)", "Slots()", "Cycle()", "WithSa()",
    "object()", "len", "int", "(i for i in [1, 2])", "range(3)", "1j", "[object()]",
    "{'a': Thing(1)}", "[Config('a'), Order(item='b', price=2), {'d': dt.date(2024, 1, 1)}]",
]  # fmt: skip

ORACLE = textwrap.dedent(
    """
    import json, logging, sys
    logging.disable(logging.CRITICAL)
    from prefect import Flow
    from pydantic import TypeAdapter
    from typing import Any
    job = json.load(sys.stdin)
    ns = {}
    exec(job["shared"], ns)
    calls = []
    for signature, parameters in job["calls"]:
        exec(f"def f({signature}):\\n    return 1", ns)
        try:
            out = Flow(ns["f"]).validate_parameters(eval(parameters, ns))
            calls.append(["ok", {k: ns["describe"](v) for k, v in out.items()}])
        except Exception as exc:
            calls.append(["err", type(exc).__name__, str(exc)])
    def g(**kw):
        pass
    wire = TypeAdapter(dict[str, Any])
    sent = []
    for expression in job["serialize"]:
        encoded = Flow(g).serialize_parameters({"v": eval(expression, ns)})
        sent.append(json.dumps(wire.dump_python(encoded, mode="json")["v"], sort_keys=True))
    print(json.dumps({"calls": calls, "serialize": sent}))
    """
)


def _exec(source: str, namespace: dict[str, Any]) -> None:
    # Without this module's ``from __future__ import annotations``, as Prefect's side runs.
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)


def _single_calls() -> list[tuple[str, str]]:
    return [(f"x: {ann}", f"{{'x': {value}}}") for ann, values in SINGLE for value in values]


ALL_CALLS = _single_calls() + CALLS


@pytest.fixture(scope="module")
def shared() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    _exec(SHARED, namespace)
    return namespace


@pytest.fixture(scope="module")
def prefect() -> dict[str, Any]:
    """Prefect's answers for every case, from one run of its python."""
    if not PREFECT_PYTHON.exists():
        pytest.skip(f"no Prefect environment at {PREFECT_PYTHON}")
    job = {"shared": SHARED, "calls": ALL_CALLS + MATRIX, "serialize": SERIALIZE}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    done = subprocess.run(
        [str(PREFECT_PYTHON), "-c", ORACLE],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _skiff_call(shared: dict[str, Any], signature: str, parameters: str) -> list[Any]:
    namespace = dict(shared)
    _exec(f"def f({signature}):\n    return 1", namespace)
    try:
        out = validate(namespace["f"], eval(parameters, namespace))
    except Exception as exc:
        return ["err", type(exc).__name__, str(exc)]
    return ["ok", {k: namespace["describe"](v) for k, v in out.items()}]


@pytest.mark.parametrize(("signature", "parameters"), ALL_CALLS)
def test_validate_matches_prefect(
    prefect: dict[str, Any], shared: dict[str, Any], signature: str, parameters: str
) -> None:
    """The same values and the same error text as Prefect's Flow.validate_parameters."""
    expected = prefect["calls"][ALL_CALLS.index((signature, parameters))]
    assert _skiff_call(shared, signature, parameters) == expected


def test_matrix_matches_prefect(prefect: dict[str, Any], shared: dict[str, Any]) -> None:
    """Every annotation against every value: the same results but for the KNOWN few."""
    answers = prefect["calls"][len(ALL_CALLS) :]
    differ = {
        case
        for case, expected in zip(MATRIX, answers, strict=True)
        if _skiff_call(shared, *case) != expected
    }
    assert differ == KNOWN


@pytest.mark.parametrize("expression", SERIALIZE)
def test_serialize_matches_prefect(
    prefect: dict[str, Any], shared: dict[str, Any], expression: str
) -> None:
    """The JSON the server records for a parameter is the JSON Prefect's client sends."""
    value = eval(expression, dict(shared))
    sent = msgspec.json.decode(msgspec.json.encode(serialize({"v": value})["v"]))
    assert json.dumps(sent, sort_keys=True) == prefect["serialize"][SERIALIZE.index(expression)]


# --- the failed run, against the real server ---

FAILING_FLOW = textwrap.dedent(
    """
    import json
    from prefect import flow
    from pydantic import BaseModel

    class Order(BaseModel):
        item: str
        quantity: int = 1

    @flow(name="skiff-param-check")
    def greet(name: str, times: int = 1, order: Order | None = None) -> str:
        return name * times

    state = greet("ada", times="x", order={"quantity": "q"}, return_state=True)
    try:
        greet("ada", times="x")
    except Exception as exc:
        raised = [type(exc).__name__, str(exc)]
    print(json.dumps({"id": str(state.state_details.flow_run_id), "raised": raised}))
    """
)


@pytest.mark.server
def test_failure_message_and_sequence_match_a_real_prefect_run(
    prefect_api_url: str, tmp_path: Path
) -> None:
    """Prefect records Pending -> Failed, run_count 0, no log lines, and this message."""
    if not PREFECT_PYTHON.exists():
        pytest.skip(f"no Prefect environment at {PREFECT_PYTHON}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PREFECT_API_URL=prefect_api_url,
        PREFECT_HOME=str(tmp_path / "home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="CRITICAL",
    )
    done = subprocess.run(
        [str(PREFECT_PYTHON), "-c", FAILING_FLOW],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])

    namespace: dict[str, Any] = {}
    _exec(FAILING_FLOW.split("@flow")[0].replace("from prefect import flow", ""), namespace)
    _exec("def greet(name: str, times: int = 1, order: Order | None = None): pass", namespace)
    greet = namespace["greet"]

    with pytest.raises(ParameterTypeError) as both:
        validate(greet, {"name": "ada", "times": "x", "order": {"quantity": "q"}})
    with pytest.raises(ParameterTypeError) as one:
        validate(greet, {"name": "ada", "times": "x", "order": None})
    assert answer["raised"] == ["ParameterTypeError", str(one.value)]

    server = Server(prefect_api_url)
    run = wait_for(
        lambda: (r := server.flow_run(answer["id"]))["state_type"] == "FAILED" and r,
        what="the failed run",
    )
    assert run["state"]["message"] == failure_message(both.value)
    assert run["run_count"] == 0
    assert server.history(answer["id"]) == ["Pending", "Failed"]
    assert server.logs(answer["id"]) == []
    assert run["parameters"] == serialize({"name": "ada", "times": "x", "order": {"quantity": "q"}})


# --- the compat programs, through skiff's parameter path ---


def _run_program(name: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """Run a compat program with a ``flow`` that does what the engine does with parameters:
    bind with defaults, record ``serialize``, run the body with ``validate``'s result."""
    recorded: list[tuple[str, dict[str, Any]]] = []
    printed: list[str] = []

    def flow(fn: Any = None, *, validate_parameters: bool = True, **_: Any) -> Any:
        if fn is None:
            return lambda f: flow(f, validate_parameters=validate_parameters)
        import inspect

        def call(*args: Any, **kwargs: Any) -> Any:
            bound = inspect.signature(fn).bind(*args, **kwargs)
            bound.apply_defaults()
            parameters = dict(bound.arguments)
            recorded.append((fn.__name__, serialize(parameters)))
            return fn(**(validate(fn, parameters) if validate_parameters else parameters))

        return call

    source = (ROOT / "tests" / "compat" / "programs" / f"{name}.py").read_text()
    source = source.replace("from prefect import flow", "")
    namespace = {
        "__name__": "__main__",
        "flow": flow,
        "print": lambda *a: printed.append(" ".join(map(str, a))),
    }
    exec(compile(source, name, "exec", dont_inherit=True), namespace)
    return printed, recorded


@pytest.mark.parametrize(
    "program", ["params_coercion", "params_dataclass", "params_pydantic", "validate_parameters_off"]
)
def test_compat_program_parameters_and_output(program: str) -> None:
    """What the body receives (its printed result) and the recorded parameters match Prefect."""
    expected = json.loads((ROOT / "tests" / "compat" / "recorded" / f"{program}.json").read_text())
    printed, recorded = _run_program(program)
    assert printed == expected["stdout"]
    want = sorted(
        json.dumps([r["flow"], r["parameters"]], sort_keys=True) for r in expected["flow_runs"]
    )
    got = sorted(
        json.dumps([n, msgspec.json.decode(msgspec.json.encode(p))], sort_keys=True)
        for n, p in recorded
    )
    assert got == want


# --- skiff's own rules, and what differs from Prefect on purpose ---


class Point(msgspec.Struct):
    x: int
    tags: list[int] = []


class Movie(typing.TypedDict):
    year: int


Later = None  # a name an annotation refers to before it is bound


def test_failure_message_format() -> None:
    """Prefect's state message: the engine's prefix, then ``Type: text`` of the exception."""
    exc = ParameterTypeError.from_errors([(("times",), "Input should be a valid integer")])
    assert failure_message(exc) == (
        "Validation of flow parameters failed with error: ParameterTypeError: "
        "Flow run received invalid parameters:\n - times: Input should be a valid integer"
    )
    assert params.log_message(exc).startswith(
        "Validation of flow parameters failed with error: Flow"
    )
    assert exc.errors == [(("times",), "Input should be a valid integer")]


def test_errors_are_typed() -> None:
    """Bad values, unknown keys and reserved names raise skiff's ValidationError family."""

    def f(a: int, b: str = "x") -> None: ...

    with pytest.raises(ParameterTypeError) as bad:
        validate(f, {"a": "nope"})
    assert isinstance(bad.value, ValidationError)
    with pytest.raises(SignatureMismatchError, match=r"expects parameters \['a', 'b'\]"):
        validate(f, {"a": 1, "c": 2})
    assert issubclass(SignatureMismatchError, TypeError)

    def reserved(v__args: int) -> None: ...

    with pytest.raises(ValidationError, match="not compatible with `validate_parameters`"):
        params.check(reserved)
    params.check(f)


def test_plan_is_cached_and_a_type_is_read_on_first_call() -> None:
    """One plan per function; string annotations resolve when the flow is first called."""
    global Later

    def f(a: Later) -> Any:  # type: ignore[valid-type]
        return a

    Later = int  # type: ignore[misc]
    try:
        assert validate(f, {"a": "3"}) == {"a": 3}
        assert params.validator(f) is params.validator(f)
    finally:
        Later = None


def test_union_members_are_tried_in_the_order_written() -> None:
    """Union[int, float] and Union[float, int] are equal to typing, not to pydantic."""

    def a(x: int | float) -> None: ...

    def b(x: float | int) -> None: ...

    assert validate(a, {"x": "3"})["x"] == 3
    assert type(validate(b, {"x": "3"})["x"]) is float


def test_structs_are_converted_and_their_errors_located() -> None:
    """skiff converts msgspec Structs from dicts (Prefect accepts only instances)."""

    def f(p: Point, many: list[Point] | None = None) -> None: ...

    given = Point(1)
    assert validate(f, {"p": given})["p"] is given
    out = validate(f, {"p": {"x": "2", "tags": ["3"]}, "many": [{"x": 4}]})
    assert out == {"p": Point(2, [3]), "many": [Point(4)]}
    with pytest.raises(ParameterTypeError) as bad:
        validate(f, {"p": {"x": 1, "tags": ["q"]}})
    assert str(bad.value).endswith(" - p.tags.0: Expected `int`, got `str`")
    assert serialize({"p": Point(1, [2])}) == {"p": {"x": 1, "tags": [2]}}


def test_differences_from_prefect_that_are_kept() -> None:
    """Iterables pass as given (Prefect hands a lazy iterator); typing.TypedDict validates
    as typing_extensions' does in Prefect (which refuses typing's on Python < 3.12)."""

    def f(items: typing.Iterable[int], movie: Movie) -> None: ...

    items = [1, "2"]
    out = validate(f, {"items": items, "movie": {"year": "1999"}})
    assert out == {"items": items, "movie": {"year": 1999}}
    with pytest.raises(ParameterTypeError, match=r"movie\.extra: Extra inputs are not permitted"):
        validate(f, {"items": items, "movie": {"year": "1999", "extra": 1}})


def test_opaque_values_are_not_touched() -> None:
    """Futures and states (``opaque``) are recorded as ``<TypeName>``, as Prefect does."""

    class Future:
        def __getitem__(self, key: Any) -> Any:
            raise AssertionError("serialize must not touch an opaque value")

    assert serialize({"f": Future(), "n": 1}, opaque=(Future,)) == {"f": "<Future>", "n": 1}


def test_serialize_never_raises() -> None:
    """What cannot be encoded is recorded as Prefect records it: ``<TypeName>``."""

    class BadRepr:
        __slots__ = ()

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @dataclasses.dataclass
    class Holder:
        lock: Any

    import threading

    out = serialize({"a": BadRepr(), "b": Holder(threading.Lock()), "c": b"\xff", "d": [1]})
    assert out == {"a": "<BadRepr>", "b": "<Holder>", "c": "<bytes>", "d": [1]}


BLOCKED = textwrap.dedent(
    """
    import sys
    sys.modules["pydantic"] = None  # as if not installed: any import of it fails
    import dataclasses, datetime as dt, enum, msgspec
    from skiff._engine._parameters import validate, serialize, ParameterTypeError

    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Config:
        source: str
        limit: int = 10

    class Point(msgspec.Struct):
        x: int

    def f(n: int, flag: bool, when: dt.date, color: Color, config: Config, p: Point, raw=None):
        pass

    out = validate(f, {"n": "3", "flag": "yes", "when": "2024-01-02", "color": "red",
                       "config": {"source": "s", "limit": "5"}, "p": {"x": "1"}, "raw": object})
    assert out["n"] == 3 and out["flag"] is True and out["when"] == dt.date(2024, 1, 2), out
    assert out["color"] is Color.RED and out["config"] == Config("s", 5), out
    assert out["p"] == Point(1) and out["raw"] is object, out
    try:
        validate(f, {**out, "n": "x"})
    except ParameterTypeError as exc:
        assert "n: Input should be a valid integer, unable to parse" in str(exc), exc
    else:
        raise AssertionError("no error")
    assert serialize({"config": Config("s")}) == {"config": {"source": "s", "limit": 10}}
    assert sys.modules["pydantic"] is None
    print("ok")
    """
)

NOT_IMPORTED = textwrap.dedent(
    """
    import sys
    from skiff._engine._parameters import validate, serialize
    def f(a: int, b: list[str], c: dict[str, float] | None = None):
        pass
    validate(f, {"a": "1", "b": ("x",), "c": {"k": "1.5"}})
    serialize({"a": 1, "b": ["x"]})
    print("pydantic" in sys.modules)
    """
)


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_without_pydantic() -> None:
    """Builtins, dataclasses, enums and Structs validate when pydantic cannot be imported."""
    assert _python(BLOCKED) == "ok"


def test_pydantic_is_not_imported_for_builtin_annotations() -> None:
    """Validating and serializing builtin types leaves pydantic unimported."""
    assert _python(NOT_IMPORTED) == "False"
