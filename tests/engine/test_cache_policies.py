"""Cache policies and keys: skiff's against real Prefect 3.9.1's, for the same source and inputs.

One driver (``DRIVER`` below) computes every key through either Prefect's or skiff's API.
It runs under Prefect's own python (a subprocess; skipped when that environment is
missing), under skiff's python with cloudpickle on the path (copied from Prefect's
environment, the same version, so the pickle fallback can be compared), and in this
process, where cloudpickle is absent: there every key that needs pickle must raise
MissingExtraError and every other key must be Prefect's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scripts import prefect_server
from skiff import cache_policies as cp
from skiff._engine._backoff import exponential_backoff
from skiff._engine._cache import (
    resolve_persist_result,
    resolve_policy,
    task_key,
    task_source,
)
from skiff._engine._hashing import hash_objects, to_jsonable
from skiff._exceptions import MissingExtraError, SkiffError, ValidationError
from skiff.client._types import NOT_GIVEN

ROOT = Path(__file__).resolve().parents[2]
PREFECT_PYTHON = prefect_server.env_dir_for() / "bin" / "python"
PREFECT_SITE = PREFECT_PYTHON.parent.parent / "lib" / "python3.11" / "site-packages"

# The user's module: both SDKs import it by the same name, so pickles by reference agree.
CASES = '''
import collections, dataclasses, datetime as dt, decimal, enum, ipaddress, pathlib, re
import threading, typing, uuid

import pydantic


def task(*args, **kwargs):
    return lambda fn: fn


@task(cache_policy="INPUTS + TASK_SOURCE")
def decorated(x: int, y: int = 2) -> int:
    """The decorator line is part of TASK_SOURCE's key."""
    return x * y


def plain(x, y=2):
    return x + y


def by_name(context, parameters):
    return "name-" + str(parameters["x"])


class CallableTask:
    def __call__(self, x):
        return x


namespace = {}
exec(compile("def no_source(x):\\n    return x\\n", "<no-source>", "exec"), namespace)
no_source = namespace["no_source"]


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    HIGH = 3


class Pair(typing.NamedTuple):
    a: int
    b: str


@dataclasses.dataclass
class Point:
    x: int
    when: dt.date
    tags: list = dataclasses.field(default_factory=list)
    meta: dict = dataclasses.field(default_factory=dict)


class Model(pydantic.BaseModel):
    name: str
    when: dt.datetime
    ident: uuid.UUID
    point: typing.Optional[dict] = None


class Opaque:
    def __init__(self, value):
        self.value = value


UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))
ID = uuid.UUID("6f1c1d52-5c5b-4f4b-9a57-3f2d0f2b7a11")

INPUTS = {
    "ints": {"x": 1, "y": -5, "big": 2**80},
    "floats": {"f": 1.5, "inf": float("inf"), "nan": float("nan"), "neg0": -0.0, "tiny": 5e-324},
    "strs": {"s": "h\\u00e9llo", "odd": "\\u2028 \\x00 \\"q\\"", "empty": ""},
    "none_bool": {"n": None, "t": True, "f": False},
    "lists": {"l": [1, [2, [3]], ()], "t": (1, "a")},
    "dicts": {"d": {"b": 1, "a": {"z": [1, 2], "y": None}}},
    "int_keys": {"d": {2: "b", 1: "a", 1.5: "c"}, "n": {None: "n"}, "b": {True: 1}},
    "mixed_keys": {"d": {1: "a", "1": "b"}},
    "datetimes": {
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
        "micro": dt.datetime(2024, 1, 2, 3, 4, 5, 120000),
        "utc": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "ist": dt.datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=IST),
        "pst": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PST),
        "date": dt.date(2024, 1, 2),
        "time": dt.time(3, 4, 5, 6),
        "time_utc": dt.time(3, 4, tzinfo=UTC),
    },
    "timedeltas": {
        "zero": dt.timedelta(0),
        "mixed": dt.timedelta(days=1, seconds=3723, microseconds=500000),
        "negative": dt.timedelta(days=-1, hours=2),
        "years": dt.timedelta(days=400, microseconds=1),
        "hour_and_fraction": dt.timedelta(seconds=3600.25),
    },
    "uuids": {"u": ID, "in_list": [ID]},
    "scalars": {
        "dec": decimal.Decimal("1.10"),
        "exp": decimal.Decimal("1e10"),
        "path": pathlib.Path("/data/in.csv"),
        "ip": ipaddress.ip_address("10.0.0.1"),
        "net": ipaddress.ip_network("10.0.0.0/8"),
        "pattern": re.compile("a+b"),
        "bytes": b"abc",
        "complex": complex(1.5, -2),
    },
    "collections": {
        "set": {3, 1, 2},
        "frozen": frozenset(["a"]),
        "deque": collections.deque([1, 2]),
        "ordered": collections.OrderedDict(b=1, a=2),
    },
    "enums": {"c": Color.RED, "pair": Color.PAIR, "level": Level.HIGH},
    "namedtuple": {"p": Pair(1, "b")},
    "dataclass": {"p": Point(1, dt.date(2020, 1, 1), ["a"], {1: {2}, (1, "k"): ID})},
    "dataclasses_in_list": {"ps": [Point(1, dt.date(2020, 1, 1)), Point(2, dt.date(2021, 2, 2))]},
    "pydantic": {"m": Model(name="a", when=dt.datetime(2024, 1, 1, tzinfo=UTC), ident=ID)},
    "exception": {"e": ValueError("boom"), "k": KeyError("k")},
    "iterator": {"it": iter([1, dt.date(2020, 1, 1)])},
    "opaque": {"o": Opaque(1)},
    "dataclass_with_opaque": {"p": Point(1, dt.date(2020, 1, 1), [Opaque(2)])},
    "bad_utf8": {"b": b"\\xff"},
    "lock": {"lock": threading.Lock()},
    "empty": {},
}
# Keys that need cloudpickle (what JSON cannot encode).
NEEDS_PICKLE = {"mixed_keys", "opaque", "dataclass_with_opaque", "bad_utf8", "lock"}
'''

DRIVER = """
import itertools, json, re, sys, uuid
from types import SimpleNamespace

import skiff_cache_cases as cases

side = sys.argv[1]
if side == "prefect":
    from prefect import cache_policies as cp
    from prefect.tasks import Task, exponential_backoff, task_input_hash
    from prefect.utilities.hashing import hash_objects

    def make_task(fn):
        return Task(fn=fn)
else:
    from skiff import cache_policies as cp
    from skiff._engine._backoff import exponential_backoff
    from skiff._engine._cache import (
        resolve_persist_result, resolve_policy, task_input_hash, task_key, task_source,
    )
    from skiff.client._types import NOT_GIVEN
    from skiff._engine._hashing import hash_objects

    given_keys = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}

    def make_task(fn):
        key = given_keys.get(getattr(fn, "__name__", "")) or task_key(fn)
        return SimpleNamespace(fn=fn, task_key=key, source_code=task_source(fn))

FLOW_RUN = uuid.UUID("11111111-2222-3333-4444-555555555555")
TASK_RUN = uuid.UUID("99999999-8888-7777-6666-555555555555")


def ctx(fn, flow_run_id=FLOW_RUN, stored_source=True):
    task = make_task(fn)
    if not stored_source:
        task.source_code = None
    task_run = SimpleNamespace(id=TASK_RUN, flow_run_id=flow_run_id, flow_run=None)
    return SimpleNamespace(task=task, task_run=task_run)


def outcome(compute):
    try:
        return compute()
    except Exception as exc:
        return "error:" + ("ValueError" if isinstance(exc, ValueError) else type(exc).__name__)


out = {}
for name, inputs in cases.INPUTS.items():
    policies = {
        "inputs": cp.INPUTS,
        "exclude": cp.Inputs(exclude=["x", "d"]),
        "minus": cp.INPUTS - "y" - "s",
        "default": cp.DEFAULT,
    }
    for label, policy in policies.items():
        # Each input case is built fresh for each key: an iterator is consumed once.
        fresh = {k: (iter(list(v)) if name == "iterator" else v) for k, v in inputs.items()}
        out[f"{name}/{label}"] = outcome(
            lambda: policy.compute_key(ctx(cases.decorated), fresh, {"p": 1})
        )
    fresh = {k: (iter(list(v)) if name == "iterator" else v) for k, v in inputs.items()}
    out[f"{name}/task_input_hash"] = outcome(lambda: task_input_hash(ctx(cases.plain), fresh))

for fn_name in ("decorated", "plain", "no_source"):
    fn = getattr(cases, fn_name)
    for stored in (True, False):
        out[f"source/{fn_name}/{stored}"] = outcome(
            lambda: cp.TASK_SOURCE.compute_key(ctx(fn, stored_source=stored), {}, {})
        )
    out[f"task_key/{fn_name}"] = outcome(lambda: make_task(fn).task_key)
out["source/callable"] = outcome(
    lambda: cp.TASK_SOURCE.compute_key(ctx(cases.CallableTask(), stored_source=False), {}, {})
)
out["run_id/flow"] = cp.RUN_ID.compute_key(ctx(cases.plain), {}, {})
out["run_id/standalone"] = cp.RUN_ID.compute_key(ctx(cases.plain, flow_run_id=None), {}, {})
out["flow_parameters"] = cp.FLOW_PARAMETERS.compute_key(None, {}, {"n": 3, "when": cases.ID})
out["flow_parameters/none"] = cp.FLOW_PARAMETERS.compute_key(None, {}, {})
out["compound/merged"] = (
    (cp.INPUTS - "x") + cp.TASK_SOURCE + cp.FLOW_PARAMETERS + (cp.INPUTS - "y")
).compute_key(ctx(cases.decorated), {"x": 1, "y": 2, "z": 3}, {"n": 1})
out["compound/no_keys"] = (cp.NO_CACHE + cp.INPUTS).compute_key(ctx(cases.plain), {}, {})
out["compound/cache_key_fn"] = (
    cp.CachePolicy.from_cache_key_fn(lambda c, p: "k-" + str(p["x"])) + cp.RUN_ID
).compute_key(ctx(cases.plain), {"x": 7}, {})
out["compound/repr"] = repr((cp.INPUTS - "a") + cp.TASK_SOURCE + (cp.INPUTS - "b"))
out["equal/no_cache"] = [cp.NO_CACHE == cp.NONE, cp.DEFAULT == cp.INPUTS + cp.TASK_SOURCE + cp.RUN_ID]
out["hash/plain"] = hash_objects(1, "a", [1.5], k={"b": None})
out["hash/unhashable"] = outcome(lambda: hash_objects(cases.threading.Lock()))
out["configure/repr"] = [
    repr(cp.INPUTS.configure(key_storage="/keys", isolation_level="SERIALIZABLE") + cp.TASK_SOURCE),
    repr(cp.TASK_SOURCE + cp.INPUTS.configure(key_storage="/keys")),
    repr(cp.INPUTS + cp.NO_CACHE),
    repr(cp.NO_CACHE + cp.RUN_ID),
    repr(cp.DEFAULT - "x"),
    repr(cp.TASK_SOURCE - "x"),
]

POLICIES = {
    "INPUTS": cp.INPUTS,
    "NO_CACHE": cp.NO_CACHE,
    "NONE": None,
    "DEFAULT": cp.DEFAULT,
    "INPUTS-x": cp.INPUTS - "x",
}
for policy_name in ["unset", *POLICIES]:
    for key_fn, persist, storage_key, storage in itertools.product(
        [None, cases.by_name], [None, True, False], [None, "k-{parameters[x]}"],
        [None, "local-file-system/results"],
    ):
        given = {} if policy_name == "unset" else {"cache_policy": POLICIES[policy_name]}
        combo = f"resolve/{policy_name}/{key_fn and 'fn'}/{persist}/{storage_key}/{storage}"
        if side == "prefect":
            made = Task(
                fn=cases.plain, cache_key_fn=key_fn, persist_result=persist,
                result_storage_key=storage_key, result_storage=storage, **given
            )
            policy, persisting = made.cache_policy, made.persist_result
        else:
            args = (given.get("cache_policy", NOT_GIVEN), key_fn, persist, storage is not None)
            policy = resolve_policy(*args, result_storage_key=storage_key)
            persisting = resolve_persist_result(*args, result_storage_key=storage_key)
        out[combo] = [re.sub(" at 0x[0-9a-f]+", "", repr(policy)), persisting]

out["backoff"] = [exponential_backoff(2)(4), exponential_backoff(0.5)(60)]
out["needs_pickle"] = sorted(cases.NEEDS_PICKLE)
print(json.dumps(out, sort_keys=True))
"""


def _write(folder: Path) -> Path:
    (folder / "skiff_cache_cases.py").write_text(textwrap.dedent(CASES))
    driver = folder / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    return driver


def _run(python: Path | str, driver: Path, *args: str, path: list[Path]) -> dict[str, Any]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_", "PYTHON"))
    }
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    env["PREFECT_HOME"] = str(driver.parent / "prefect-home")
    done = subprocess.run(
        [str(python), str(driver), *args], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every key, as Prefect computes it and as skiff does with and without cloudpickle."""
    if not PREFECT_PYTHON.exists():
        pytest.skip(f"Prefect's environment is not installed ({PREFECT_PYTHON})")
    pytest.importorskip("pydantic")  # the cases include a pydantic model
    folder = tmp_path_factory.mktemp("cache-keys")
    driver = _write(folder)
    prefect = _run(PREFECT_PYTHON, driver, "prefect", path=[folder])
    pickle_dir = folder / "pickle"
    shutil.copytree(PREFECT_SITE / "cloudpickle", pickle_dir / "cloudpickle")
    with_pickle = _run(sys.executable, driver, "skiff", path=[folder, pickle_dir, ROOT])
    task_keys = {k.split("/")[1]: v for k, v in prefect.items() if k.startswith("task_key/")}
    sys.path.insert(0, str(folder))
    argv = sys.argv
    try:
        sys.argv = [str(driver), "skiff", json.dumps(task_keys)]
        printed: list[str] = []
        exec(compile(driver.read_text(), str(driver), "exec"), {"print": printed.append})
    finally:
        sys.argv = argv
        sys.path.remove(str(folder))
        sys.modules.pop("skiff_cache_cases", None)
    return {
        "prefect": prefect,
        "with_pickle": with_pickle,
        "no_pickle": json.loads(printed[-1]),
        "folders": {"folder": str(folder)},
    }


def test_the_cases_cover_both_paths(keys: dict[str, dict[str, Any]]) -> None:
    prefect = keys["prefect"]
    assert len(prefect) > 280
    assert prefect["empty/inputs"] is None
    assert prefect["lock/inputs"] == "error:ValueError"
    assert prefect["hash/unhashable"] is None
    assert all(isinstance(prefect[f"{n}/inputs"], str) for n in ("ints", "opaque", "pydantic"))
    assert prefect["resolve/unset/None/None/None/None"][0].startswith("CompoundCachePolicy(")


def test_keys_are_prefects_with_cloudpickle(keys: dict[str, dict[str, Any]]) -> None:
    prefect, skiff = keys["prefect"], keys["with_pickle"]
    assert {k: (prefect.get(k), v) for k, v in skiff.items() if prefect.get(k) != v} == {}
    assert skiff.keys() == prefect.keys()


def test_keys_are_prefects_without_cloudpickle(keys: dict[str, dict[str, Any]]) -> None:
    """Without cloudpickle a key that needs it raises MissingExtraError; the rest are Prefect's."""
    prefect, skiff = keys["prefect"], keys["no_pickle"]
    differ = {k: v for k, v in skiff.items() if prefect[k] != v}
    if importlib.util.find_spec("cloudpickle") is not None:
        assert differ == {}  # cloudpickle is installed here after all
        return
    assert set(differ.values()) == {"error:MissingExtraError"}
    inputs_cases = {k.split("/")[0] for k in differ if "/" in k and k.count("/") == 1}
    assert inputs_cases - {"hash"} == set(prefect["needs_pickle"])
    assert {k for k in differ if k.split("/")[0] not in inputs_cases} == {
        "source/no_source/True",
        "source/no_source/False",
    }
    assert "mixed_keys/exclude" not in differ  # the input that needs pickle is excluded


def test_cloudpickle_missing_names_the_extra() -> None:
    if importlib.util.find_spec("cloudpickle") is not None:
        pytest.skip("cloudpickle is installed here")
    with pytest.raises(MissingExtraError, match=r"pip install 'skiff\[pickle\]'"):
        cp.INPUTS.compute_key(None, {"o": object()}, {})
    assert task_key(lambda: None) is None
    # JSON-encodable inputs never need it.
    assert cp.INPUTS.compute_key(None, {"x": [1, {"a": None}]}, {}) == hash_objects(
        {"x": [1, {"a": None}]}
    )


class _Locks:
    def acquire_lock(self, key: str, holder: str) -> bool:
        return True

    def release_lock(self, key: str, holder: str) -> None:
        return None


def test_configure_keeps_what_is_given() -> None:
    locks = _Locks()
    policy = cp.INPUTS.configure(
        key_storage="/keys", isolation_level="SERIALIZABLE", lock_manager=locks
    )
    assert (policy.key_storage, policy.isolation_level, policy.lock_manager) != (None,) * 3
    assert policy.key_storage == "/keys" and policy.isolation_level == "SERIALIZABLE"
    assert cp.INPUTS.key_storage is None  # a copy: the shared INPUTS is untouched
    combined = policy + cp.TASK_SOURCE
    assert isinstance(combined, cp.CompoundCachePolicy)
    assert combined.key_storage == "/keys" and combined.isolation_level == "SERIALIZABLE"
    assert cp.INPUTS.configure(key_storage=Path("/k")).key_storage == Path("/k")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: cp.INPUTS + 5, "only cache policies combine"),
        (lambda: cp.TASK_SOURCE + "INPUTS", "only cache policies combine"),
        (lambda: cp.NO_CACHE + None, "only cache policies combine"),
        (lambda: cp.DEFAULT + object(), "only cache policies combine"),
        (lambda: cp.INPUTS - 5, "Can only subtract strings"),
        (lambda: cp.DEFAULT - ["x"], "Can only subtract strings"),
        (lambda: cp.RUN_ID - 1, "Can only subtract strings"),
        (lambda: cp.Inputs(exclude="x"), r"write exclude=\['x'\]"),
        (lambda: cp.Inputs(exclude=[1]), "input names"),
        (lambda: cp.Inputs(exclude=5), "list of input names"),
        (lambda: cp.CompoundCachePolicy(policies=[cp.INPUTS, "x"]), "only cache policies"),
        (lambda: cp.INPUTS.configure(isolation_level="BOGUS"), "READ_COMMITTED"),
        (lambda: cp.INPUTS.configure(key_storage=5), "key_storage must be"),
        (lambda: cp.INPUTS.configure(lock_manager=object()), "lock_manager must be"),
        (
            lambda: cp.INPUTS.configure(key_storage="/a") + cp.RUN_ID.configure(key_storage="/b"),
            "different storage locations",
        ),
        (
            lambda: (
                cp.INPUTS.configure(isolation_level="SERIALIZABLE")
                + cp.RUN_ID.configure(isolation_level="READ_COMMITTED")
            ),
            "different isolation levels",
        ),
        (lambda: resolve_policy(cache_policy="INPUTS"), "cache_policy must be a cache policy"),
        (lambda: resolve_policy(cache_key_fn="by_name"), "cache_key_fn must be a function"),
    ],
)
def test_bad_policies_raise_typed_errors(build: Any, message: str) -> None:
    with pytest.raises(cp.CachePolicyError, match=message) as caught:
        build()
    # Typed for skiff, and the TypeError/ValueError Prefect's callers may catch.
    assert isinstance(caught.value, SkiffError) and isinstance(caught.value, ValidationError)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


def _sample(x: int) -> int:
    return x


def test_run_id_waits_for_the_flow_run_id() -> None:
    """While the flow run's create is buffered, RUN_ID refuses rather than key by task run."""
    from skiff._engine._context import FlowRun, TaskRun, TaskRunContext
    from skiff._engine._items import RunRef

    ref = RunRef()
    flow_run = FlowRun(ref, "etl", {}, [], None)
    task_run_id = uuid.uuid4()
    task_run = TaskRun(task_run_id, "t-0", "t", "t-abc", flow_run, {}, [])
    ctx = TaskRunContext(SimpleNamespace(fn=_sample), task_run, {}, None, False, reporter=None)
    with pytest.raises(cp.CacheKeyError, match="flow run's id"):
        cp.RUN_ID.compute_key(ctx, {}, {})
    with pytest.raises(cp.CacheKeyError):
        cp.DEFAULT.compute_key(ctx, {"x": 1}, {})
    ref.id = uuid.uuid4()
    assert cp.RUN_ID.compute_key(ctx, {}, {}) == str(ref.id)
    standalone = TaskRun(task_run_id, "t-0", "t", "t-abc", None, {}, [])
    standalone_ctx = TaskRunContext(
        SimpleNamespace(fn=_sample), standalone, {}, None, False, reporter=None
    )
    assert cp.RUN_ID.compute_key(standalone_ctx, {}, {}) == str(task_run_id)


def test_resolve_policy_rules_without_prefect() -> None:
    """The rules the engine follows (the Prefect comparison covers the whole matrix)."""
    assert resolve_policy() == cp.DEFAULT
    assert resolve_persist_result() is None
    assert resolve_policy(NOT_GIVEN, None, False) == cp.NO_CACHE
    assert resolve_policy(None, None, False) is None
    assert resolve_policy(default_no_cache=True) == cp.NO_CACHE
    assert resolve_policy(cp.INPUTS, disable_caching=True) == cp.NO_CACHE
    fn_policy = resolve_policy(cp.INPUTS, lambda c, p: "k")
    assert isinstance(fn_policy, cp.CacheKeyFnPolicy)
    warnings: list[str] = []
    resolve_policy(cp.INPUTS, lambda c, p: "k", warn=warnings.append)
    resolve_policy(cp.INPUTS, None, False, warn=warnings.append)
    assert [w.split(" ")[0] for w in warnings] == ["Both", "Ignoring"]


def test_exponential_backoff() -> None:
    assert exponential_backoff(10)(3) == [10, 20, 40]
    assert len(exponential_backoff(1)(80)) == 50
    assert exponential_backoff(0.5)(0) == []


def test_to_jsonable_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="Unable to serialize unknown type"):
        to_jsonable(object())
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        to_jsonable({"a": (loop,)})


UNHASHABLE = """
import threading
from types import SimpleNamespace

from skiff import cache_policies as cp
from skiff._engine._cache import task_input_hash

lock = threading.Lock()
try:
    cp.INPUTS.compute_key(None, {"lock": lock}, {})
except cp.HashError as exc:
    assert "cache_policy=NO_CACHE" in str(exc) and isinstance(exc, ValueError), exc
else:
    raise AssertionError("no HashError")
try:
    cp.FLOW_PARAMETERS.compute_key(None, {}, {"lock": lock})
except cp.HashError as exc:
    assert "Pickle error" in str(exc), exc
ctx = SimpleNamespace(task=SimpleNamespace(fn=lambda lock: None, task_key="t-0"))
assert task_input_hash(ctx, {"lock": lock}) is None
print("ok")
"""


def test_unhashable_inputs_with_cloudpickle(keys: dict[str, dict[str, Any]]) -> None:
    """Neither JSON nor pickle: HashError from policies, None from task_input_hash (Prefect's)."""
    folder = Path(keys["folders"]["folder"])
    script = folder / "unhashable.py"
    script.write_text(UNHASHABLE)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(folder / "pickle"), str(ROOT)])},
        timeout=120,
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    assert task_source(print) is None


# A real Prefect flow run persists each task's record under its cache key.
PROGRAM = """
import datetime, os, sys, uuid
from types import SimpleNamespace

if os.environ.get("SIDE") == "prefect":
    from prefect import flow, task
    from prefect.cache_policies import DEFAULT, INPUTS, TASK_SOURCE
    from prefect.runtime import flow_run
else:  # skiff reads the same functions without running them
    def task(**options):
        return lambda fn: SimpleNamespace(fn=fn)

    flow = task()
    DEFAULT = INPUTS = TASK_SOURCE = 0


@task(cache_policy=INPUTS + TASK_SOURCE, persist_result=True)
def double(x: int, when: datetime.datetime, ident: uuid.UUID) -> int:
    return x * 2


@task(cache_policy=DEFAULT, persist_result=True)
def triple(x: int, tags: list, extra: dict = {"a": (1, 2)}) -> int:
    return x * 3


@flow
def cached_flow() -> None:
    double(3, datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc), uuid.UUID(int=7))
    triple(4, ["b", "a"])
    print(flow_run.id)


if __name__ == "__main__":
    cached_flow()
"""


@pytest.mark.server
def test_a_real_prefect_run_stores_records_under_skiffs_keys(
    prefect_api_url: str, tmp_path: Path
) -> None:
    """Prefect's engine binds inputs and contexts itself: its record names are skiff's keys."""
    import datetime

    if not PREFECT_PYTHON.exists():
        pytest.skip(f"Prefect's environment is not installed ({PREFECT_PYTHON})")
    (tmp_path / "cached_program.py").write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PYTHON"))}
    env |= {
        "SIDE": "prefect",
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    done = subprocess.run(
        [str(PREFECT_PYTHON), str(tmp_path / "cached_program.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    flow_run_id = uuid.UUID(done.stdout.split()[-1])
    stored = {p.name for p in (tmp_path / "home" / "storage").iterdir()}

    sys.path.insert(0, str(tmp_path))
    try:
        program = importlib.import_module("cached_program")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("cached_program", None)

    def ctx(fn: Any) -> Any:
        task = SimpleNamespace(fn=fn, source_code=task_source(fn))
        return SimpleNamespace(task=task, task_run=SimpleNamespace(flow_run_id=flow_run_id))

    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    double_inputs = {"x": 3, "when": when, "ident": uuid.UUID(int=7)}
    double_key = (cp.INPUTS + cp.TASK_SOURCE).compute_key(ctx(program.double.fn), double_inputs, {})
    triple_inputs = {"x": 4, "tags": ["b", "a"], "extra": {"a": (1, 2)}}
    triple_key = cp.DEFAULT.compute_key(ctx(program.triple.fn), triple_inputs, {})
    assert stored == {double_key, triple_key}
