"""``skiff.variables.Variable`` against the real server, compared with real Prefect 3.9.1.

The same program runs under Prefect's own Python and, rewritten, under skiff: what each
call returned (its repr, or the ValueError's message) and what the server then holds must
be the same on both sides.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import skiff.variables
from skiff import SkiffError, ValidationError, flow, task
from skiff.variables import Variable, VariableAlreadyExistsError
from tests.test_artifacts import PREFECT_PYTHON, run_side

PROGRAM = """
import asyncio, json, sys

from prefect import flow
from prefect.variables import Variable

TAG, OUT = sys.argv[1], sys.argv[2]
NAME = f"v_{TAG}"
out = []


def attempt(call):
    try:
        out.append(repr(call()))
    except ValueError as exc:
        out.append(f"ValueError: {exc}")


attempt(lambda: Variable.set(NAME, {"threshold": 3, "modes": ["a", "b"]}, tags=["x", "y"]))
attempt(lambda: Variable.set(NAME, 1))
attempt(lambda: Variable.get(NAME))
attempt(lambda: Variable.get(NAME + "_missing"))
attempt(lambda: Variable.get(NAME + "_missing", default=[1]))
attempt(lambda: Variable.set(NAME + "_t", (1, 2.5, None, True), tags=("t",)))
attempt(lambda: str(Variable.set(NAME, "replaced", overwrite=True)))
attempt(lambda: Variable[str].get(NAME))
attempt(lambda: Variable.set(NAME + "_n", None))
attempt(lambda: Variable.get(NAME + "_n", default="unused"))


@flow
def in_flow():
    made = Variable.set(NAME + "_f", 7, tags=["f"], overwrite=True)
    return [repr(made), Variable.get(NAME + "_f"), Variable.unset(NAME + "_n")]


@flow
async def in_async_flow():
    pending = Variable.get(NAME)
    kind = type(pending).__name__
    made = await Variable.aset(NAME + "_a", {"deep": {"er": [1, None]}}, tags=["a"])
    again = await Variable.aset(NAME + "_a", False, overwrite=True)
    return [kind, await pending, repr(made), repr(again), await Variable.aget(NAME + "_a")]


attempt(in_flow)
attempt(lambda: asyncio.run(in_async_flow()))
attempt(lambda: [Variable.unset(NAME + "_t"), Variable.unset(NAME + "_t")])


async def outside():
    pending = Variable.get(NAME)
    return [type(pending).__name__, await pending, await Variable.aunset(NAME + "_zz")]


attempt(lambda: asyncio.run(outside()))
with open(OUT, "w") as f:
    json.dump(out, f)
"""

SUFFIXES = ("", "_t", "_n", "_f", "_a")


def _stored(http: httpx.Client, name: str) -> Any:
    reply = http.get(f"/variables/name/{name}")
    if reply.status_code == 404:
        return None
    row = reply.json()
    return {"value": row["value"], "tags": row["tags"]}


def test_returns_errors_and_records_are_prefects(prefect_api_url: str, tmp_path: Path) -> None:
    tags = {side: f"{side[0]}{uuid.uuid4().hex[:8]}" for side in ("prefect", "skiff")}
    http = httpx.Client(base_url=prefect_api_url, timeout=30)
    try:
        outputs = {
            side: run_side(PROGRAM, side, prefect_api_url, tmp_path, tags[side]) for side in tags
        }
        stored = {
            side: [_stored(http, f"v_{tags[side]}{suffix}") for suffix in SUFFIXES] for side in tags
        }
    finally:
        for side in tags:
            for suffix in SUFFIXES:
                http.delete(f"/variables/name/v_{tags[side]}{suffix}")
    expected = json.loads(json.dumps(outputs["prefect"]).replace(tags["prefect"], "<tag>"))
    actual = json.loads(json.dumps(outputs["skiff"]).replace(tags["skiff"], "<tag>"))
    assert actual == expected
    assert "ValueError: Variable 'v_<tag>' already exists. Use `overwrite=True`" in actual[1]
    assert stored["skiff"] == stored["prefect"]
    assert stored["skiff"][0] == {"value": "replaced", "tags": []}


BAD_CALLS = [
    'Variable.set("Bad Name", 1)',
    'Variable.set("x" * 300, 1)',
    "Variable.set(5, 1)",
    'Variable.set("v_skiff_bad", object())',
    'Variable.set("v_skiff_bad", "x" * 6000)',
    'Variable.set("v_skiff_bad", {1: 2})',
    'Variable.set("v_skiff_bad", float("inf"))',
    'Variable.set("v_skiff_bad", 1, tags="abc")',
]

BAD_PROGRAM = """
import json, sys
from prefect.variables import Variable
raised = []
for call in json.loads(sys.argv[3]):
    try:
        eval(call)
    except ValueError:
        raised.append(call)
json.dump(raised, open(sys.argv[2], "w"))
"""


def test_bad_input_raises_a_typed_error_where_prefect_raises(api_env: str, tmp_path: Path) -> None:
    for call in BAD_CALLS:
        with pytest.raises(ValidationError):
            eval(call, vars(skiff.variables))  # nothing is sent: validation comes first
    if not PREFECT_PYTHON.exists():
        pytest.skip("real Prefect is not installed")
    program = tmp_path / "bad.py"
    program.write_text(BAD_PROGRAM)
    env = {**os.environ, "PREFECT_API_URL": api_env, "PREFECT_HOME": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    out = tmp_path / "raised.json"
    subprocess.run(
        [str(PREFECT_PYTHON), str(program), "-", str(out), json.dumps(BAD_CALLS)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert json.loads(out.read_text()) == BAD_CALLS  # each one is a ValueError in Prefect too


def test_existing_variable_without_overwrite(api_env: str) -> None:
    name = f"v_skiff_{uuid.uuid4().hex[:8]}"
    try:
        made = Variable.set(name, [1, 2], tags=["t"])
        assert made == Variable(name=name, value=[1, 2], tags=["t"])
        with pytest.raises(VariableAlreadyExistsError, match="Use `overwrite=True`") as info:
            Variable.set(name, 3)
        assert isinstance(info.value, ValueError) and isinstance(info.value, SkiffError)
        assert Variable.get(name) == [1, 2]  # unchanged
    finally:
        assert Variable.unset(name) is True
    assert Variable.unset(name) is False


def test_messages_name_the_fix() -> None:
    with pytest.raises(ValidationError, match="dashes or underscores"):
        Variable.set("My Var", 1)
    with pytest.raises(ValidationError, match="non-empty string"):
        Variable.set("", 1)  # Prefect creates a variable that cannot be read back by name
    with pytest.raises(ValidationError, match="has the key 1; JSON object keys are strings"):
        Variable.set("v", {"a": {1: 2}})
    with pytest.raises(ValidationError, match="less than 5000 characters"):
        Variable.set("v", ["x" * 5000])


def test_sync_task_in_an_async_flow_gets_values_not_coroutines(api_env: str) -> None:
    name = f"v_skiff_{uuid.uuid4().hex[:8]}"

    @task
    def read() -> Any:
        return Variable.get(name, default="none yet")

    @flow
    async def mixed() -> list[Any]:
        before = read()
        await Variable.aset(name, 42)
        forced = Variable.get(name, _sync=True)  # type: ignore[call-overload]
        return [before, forced, read(), await Variable.get.aio(Variable, name)]  # type: ignore[attr-defined]

    try:
        assert asyncio.run(mixed()) == ["none yet", 42, 42, 42]
    finally:
        Variable.unset(name)
