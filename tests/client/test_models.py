"""The generated models, resources and operation table, and the coverage tool."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
import uuid
from pathlib import Path

import msgspec
import pytest

from skiff.client import AsyncClient, Client
from skiff.client import coverage as coverage_tool
from skiff.client._constants import SPEC_FILE
from skiff.client._generated import models
from skiff.client._generated.operations import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "spec" / SPEC_FILE).read_text())


def test_every_schema_has_a_model_that_msgspec_can_decode() -> None:
    schemas = SPEC["components"]["schemas"]
    structs = 0
    for name, schema in schemas.items():
        model = getattr(models, name.replace("-", ""))
        if "enum" in schema:
            assert typing.get_args(model) == tuple(schema["enum"])
        elif not schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
            assert typing.get_origin(model) is dict  # a mapping, such as an event's Resource
            msgspec.json.Decoder(model)
        else:
            assert issubclass(model, msgspec.Struct) and model.__doc__
            msgspec.json.Decoder(model)
            structs += 1
    assert (len(schemas), structs) == (404, 378)


def test_unknown_fields_ignored_and_types_are_real() -> None:
    raw = {
        "id": str(uuid.uuid4()),
        "name": "f",
        "created": "2024-05-01T10:00:00.5Z",
        "updated": "2024-05-01T10:00:00+02:00",
        "field_from_the_future": [1, 2],
    }
    flow = msgspec.json.decode(json.dumps(raw), type=models.Flow)
    assert isinstance(flow.id, uuid.UUID)
    assert flow.created.tzinfo is not None and flow.created.microsecond == 500000
    assert flow.tags is msgspec.UNSET  # not sent, so not invented


def test_unset_fields_are_omitted_and_none_is_kept() -> None:
    body = models.FlowRunUpdate(name="x", flow_version=None)
    assert msgspec.json.decode(msgspec.json.encode(body)) == {"name": "x", "flow_version": None}


def test_tagged_unions_round_trip() -> None:
    auto = models.AutomationCreate(
        name="a",
        trigger=models.EventTriggerInput(posture="Reactive"),
        actions=[models.DoNothing(), models.PauseWorkPool(source="inferred")],
    )
    raw = msgspec.json.decode(msgspec.json.encode(auto))
    assert raw["trigger"]["type"] == "event"
    assert [a["type"] for a in raw["actions"]] == ["do-nothing", "pause-work-pool"]
    back = msgspec.json.decode(msgspec.json.encode(auto), type=models.AutomationCreate)
    assert isinstance(back.actions[1], models.PauseWorkPool)


def test_untaggable_unions_fall_back_to_dicts() -> None:
    # Interval, cron and rrule schedules share no constant field: decoded as plain dicts.
    hints = typing.get_type_hints(models.DeploymentScheduleCreate)
    assert hints["schedule"] == dict[str, typing.Any]


def test_operation_table_matches_the_spec() -> None:
    spec_ops = {
        (m.upper(), p) for p, item in SPEC["paths"].items() for m in item if m != "parameters"
    }
    assert {(op.method, op.path) for op in OPERATIONS} == spec_ops
    names = [(op.resource, op.name) for op in OPERATIONS]
    assert len(set(names)) == len(names) == 188
    assert {op.resource for op in OPERATIONS if op.path.startswith("/ui/")} == {"ui"}


def test_action_names_and_signatures() -> None:
    import inspect

    with Client("http://127.0.0.1:9/api") as c:
        assert c.flow_runs.read.__doc__.startswith("``GET /flow_runs/{id}``")  # type: ignore[union-attr]
        for name in ("read", "filter", "count", "paginate", "history", "set_state", "bulk_delete"):
            assert callable(getattr(c.flow_runs, name))
        params = inspect.signature(c.deployments.create_flow_run).parameters
        assert params["id"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert params["parameters"].kind is inspect.Parameter.KEYWORD_ONLY
        assert "timeout" in params
        assert "page_token" in inspect.signature(c.events.filter_next).parameters
        assert callable(c.block_documents.filter) and callable(c.events.filter)
    from skiff.client._generated._async.resources import AsyncFlowRuns

    assert inspect.iscoroutinefunction(AsyncFlowRuns.read)
    assert issubclass(AsyncClient, AsyncClient.__mro__[1]) and hasattr(AsyncClient, "ui")


def test_coverage_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert coverage_tool.main([str(ROOT / "spec" / SPEC_FILE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "covered 188/188 operations"
    assert any(line.startswith("Flow Runs") and line.endswith("23/23") for line in out)


def test_coverage_tool_counts_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "paths": {
            "/flows/{id}": {"get": {"tags": ["Flows"]}},
            "/new/route": {"post": {"tags": ["New"]}},
        }
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    coverage_tool.main([str(path)])
    out = capsys.readouterr().out
    assert "missing: POST /new/route" in out and out.strip().endswith("covered 1/2 operations")
    assert coverage_tool.main([str(tmp_path / "absent.json")]) == 2


def test_generated_code_is_up_to_date() -> None:
    for script in ("generate.py", "unasync.py"):
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / script), "--check"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr


def test_event_resources_keep_their_labels() -> None:
    """``Resource`` is ``additionalProperties: string`` in the spec: a dict, not an empty Struct."""
    raw = (
        b'{"id": "5f1f2b52-7f7e-4fb3-a1e8-26b5d6ad8a44", "occurred": "2026-01-01T00:00:00Z",'
        b' "event": "x", "resource": {"prefect.resource.id": "a"},'
        b' "related": [{"prefect.resource.id": "b", "prefect.resource.role": "flow-run"}]}'
    )
    event = msgspec.json.decode(raw, type=models.Event)
    assert event.resource == {"prefect.resource.id": "a"}
    assert event.related == [{"prefect.resource.id": "b", "prefect.resource.role": "flow-run"}]
