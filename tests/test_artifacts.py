"""``skiff.artifacts`` against the real server, compared with real Prefect 3.9.1.

The same program (written with ``prefect`` imports) runs under Prefect's own Python and,
rewritten to ``skiff`` imports, under skiff; each artifact both made is read back with its
client-side events, normalized (ids, tags, generated names) and compared field by field.
Delivery during an outage uses a server of our own (port 4325) that is stopped and
restarted, and the fault proxy in front of the shared server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import skiff._engine as engine
import skiff.artifacts
from scripts import prefect_server
from skiff import ValidationError, flow, task
from skiff._engine import _context
from skiff.artifacts import (
    PendingArtifact,
    acreate_markdown_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from tests.compat import harness
from tests.faults.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]
PREFECT_PYTHON = ROOT / ".cache" / "prefect-server-3.9.1" / "bin" / "python"
OWN_PORT = 4325
GENERATED = re.compile(r"^[a-z]+-[a-z]+$")
TASK_SUFFIX = re.compile(r"-[0-9a-f]{3}$")


def wait_for(probe: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


# ---------------------------------------------------------------------- running both sides
def run_side(source: str, side: str, api_url: str, tmp_path: Path, tag: str) -> Any:
    """Run ``source`` under real Prefect or (rewritten) skiff; it writes JSON to argv[2]."""
    if side == "prefect" and not PREFECT_PYTHON.exists():
        pytest.skip(f"real Prefect is not installed at {PREFECT_PYTHON}")
    path = tmp_path / f"{side}_program.py"
    path.write_text(source if side == "prefect" else harness.rewrite(source))
    out = tmp_path / f"{side}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(tmp_path / f"{side}-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    if side == "skiff":
        env["PYTHONPATH"] = str(ROOT)
    python = str(PREFECT_PYTHON) if side == "prefect" else sys.executable
    done = subprocess.run(
        [python, str(path), tag, str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{side} failed:\n{done.stderr[-4000:]}"
    return json.loads(out.read_text())


class Reader:
    """Reads artifacts and their events back from the server, normalized for comparison."""

    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=30)

    def artifact(self, artifact_id: str, tag: str) -> dict[str, Any]:
        row = self.http.get(f"/artifacts/{artifact_id}").json()
        flow_name = task_name = None
        if row["flow_run_id"]:
            run = self.http.get(f"/flow_runs/{row['flow_run_id']}").json()
            flow_name = self.http.get(f"/flows/{run['flow_id']}").json()["name"]
        if row["task_run_id"]:
            path = f"/task_runs/{row['task_run_id']}"
            found = wait_for(lambda: self.http.get(path).status_code == 200, what=path)
            assert found
            task_name = TASK_SUFFIX.sub("-<n>", self.http.get(path).json()["name"])
        return {
            "key": row["key"].replace(tag, "<tag>") if row["key"] else row["key"],
            "type": row["type"],
            "description": row["description"],
            "data": row["data"],
            "flow": flow_name,
            "task_run": task_name,
        }

    def wait_events(self, artifact_id: str, tag: str, count: int) -> None:
        """Wait until the server has recorded ``count`` events of the artifact."""
        wait_for(lambda: len(self.events(artifact_id, tag)) >= count, what="the events")

    def events(self, artifact_id: str, tag: str) -> list[dict[str, Any]]:
        body = {
            "filter": {
                "resource": {"id": [f"prefect.artifact.{artifact_id}"]},
                "occurred": {"since": "2020-01-01T00:00:00Z"},
            },
            "limit": 50,
        }
        rows = self.http.post("/events/filter", json=body).json()["events"]
        out = []
        for event in sorted(rows, key=lambda e: e["occurred"]):
            related = []
            for res in event["related"]:
                kind = res["prefect.resource.id"].split(".")[1]
                name = res.get("prefect.resource.name")
                if kind == "flow-run" and name and GENERATED.match(name):
                    name = "<generated>"
                elif kind == "task-run" and name:
                    name = TASK_SUFFIX.sub("-<n>", name)
                ident = res["prefect.resource.id"] if kind == "tag" else kind
                related.append([res["prefect.resource.role"], ident, name])
            resource = {k: v.replace(artifact_id, "<id>") for k, v in event["resource"].items()}
            record = {"event": event["event"], "resource": resource, "related": related}
            record["payload"] = event["payload"]
            out.append(json.loads(json.dumps(record).replace(tag, "<tag>")))
        return out


PROGRAM = """
import asyncio, json, sys, warnings

from prefect import flow, task
from prefect.artifacts import (
    acreate_image_artifact, acreate_link_artifact, acreate_markdown_artifact,
    acreate_progress_artifact, acreate_table_artifact, aupdate_progress_artifact,
    create_image_artifact, create_link_artifact, create_markdown_artifact,
    create_progress_artifact, create_table_artifact, update_progress_artifact,
)

TAG, OUT = sys.argv[1], sys.argv[2]
ids = {}


@task(tags=["task-tag"])
def rows_task():
    rows = [{"region": "north", "sales": 10.5}, {"region": "s\\u00fcd", "sales": float("nan")}]
    return create_table_artifact(rows, key=f"{TAG}-rows", description="Rows")


@task
async def async_task():
    return await acreate_link_artifact("https://example.com/x", "X", key=f"{TAG}-alink")


@task
def sync_task_in_async_flow():
    return create_markdown_artifact("from a sync task")


@flow
def sync_flow():
    ids["markdown"] = create_markdown_artifact("# T\\n\\ntext", key=f"{TAG}-md", description="Md")
    ids["link"] = create_link_artifact("https://example.com")
    ids["link_text"] = create_link_artifact(
        "https://example.com/a", link_text="A", key=f"{TAG}-link", description="d"
    )
    ids["columns"] = create_table_artifact({"a": [1, 2], "b": [float("nan"), float("inf")]})
    ids["lists"] = create_table_artifact([[1, "x"], (2, None)], key=f"{TAG}-lists")
    ids["rows"] = rows_task()
    progress = create_progress_artifact(0.0, description="Work done")
    for pct in (25, 50.5, 150):
        update_progress_artifact(progress, pct)
    update_progress_artifact(artifact_id=progress, progress=99, description="almost")
    update_progress_artifact(progress, 99.5, description="")
    ids["progress"] = progress
    ids["clamped"] = create_progress_artifact(-3, key=f"{TAG}-progress")
    ids["numeric_str"] = create_progress_artifact("42.5")
    ids["image"] = create_image_artifact("https://example.com/i.png", key=f"{TAG}-img", description="p")


@flow
async def async_flow():
    ids["async_md"] = await acreate_markdown_artifact("async", key=f"{TAG}-amd")
    ids["dispatched"] = await create_table_artifact({"x": [1]}, description="via dispatch")
    progress = await acreate_progress_artifact(10, description="a")
    await aupdate_progress_artifact(progress, 20)
    await update_progress_artifact(progress, 30, description="b")
    ids["async_progress"] = progress
    ids["async_task"] = await async_task()
    ids["sync_task"] = sync_task_in_async_flow()
    ids["async_image"] = await acreate_image_artifact("https://example.com/j.png")
    ids["async_table"] = await acreate_table_artifact([{"k": 1}], key=f"{TAG}-atable")


warnings.simplefilter("ignore", FutureWarning)
ids["outside"] = create_markdown_artifact("made **outside**", key=f"{TAG}-out", description="o")
sync_flow()
asyncio.run(async_flow())


async def outside_async():
    ids["outside_async"] = await create_link_artifact("https://example.com/o")


asyncio.run(outside_async())
# On a busy server skiff may have buffered some creates: wait for their ids.
ids = {k: v.wait(60) if hasattr(v, "wait") else v for k, v in ids.items()}
with open(OUT, "w") as out:
    json.dump({label: str(value) for label, value in ids.items()}, out)
"""


def test_records_and_events_are_prefects(prefect_api_url: str, tmp_path: Path) -> None:
    tags = {side: f"{side[0]}{uuid.uuid4().hex[:8]}" for side in ("prefect", "skiff")}
    ids = {side: run_side(PROGRAM, side, prefect_api_url, tmp_path, tags[side]) for side in tags}
    assert set(ids["skiff"]) == set(ids["prefect"])
    for value in ids["skiff"].values():
        uuid.UUID(value)
    reader = Reader(prefect_api_url)
    for label in ids["prefect"]:
        expected = reader.artifact(ids["prefect"][label], tags["prefect"])
        actual = reader.artifact(ids["skiff"][label], tags["skiff"])
        assert actual == expected, label
        prefect_events = reader.events(ids["prefect"][label], tags["prefect"])
        assert prefect_events, label
        skiff_id = ids["skiff"][label]
        reader.wait_events(skiff_id, tags["skiff"], len(prefect_events))
        assert reader.events(skiff_id, tags["skiff"]) == prefect_events, label


# ---------------------------------------------------------------------- bad input
BAD_CALLS = [
    'create_markdown_artifact("x", key="Bad Key")',
    'create_markdown_artifact("x", key="under_score")',
    "create_markdown_artifact(5)",
    'create_markdown_artifact("x", description=3)',
    "create_link_artifact(None)",
    'create_link_artifact("https://a.b", link_text=1)',
    'create_table_artifact("not a table")',
    "create_table_artifact([1, 2])",
    'create_table_artifact({"a": 1})',
    "create_table_artifact({1: [1]})",
    "create_progress_artifact(None)",
    'create_progress_artifact("half")',
    "create_image_artifact(None)",
]

BAD_PROGRAM = """
import json, sys, warnings
from prefect.artifacts import (
    create_image_artifact, create_link_artifact, create_markdown_artifact,
    create_progress_artifact, create_table_artifact,
)
warnings.simplefilter("ignore", FutureWarning)
raised = []
for call in json.loads(sys.argv[3]):
    try:
        eval(call)
    except ValueError:
        raised.append(call)
json.dump(raised, open(sys.argv[2], "w"))
"""


def test_bad_input_raises_a_typed_error_where_prefect_raises(
    prefect_api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    for call in BAD_CALLS:
        with pytest.raises(ValidationError):
            eval(call, vars(skiff.artifacts))  # nothing is sent: validation comes first
    if not PREFECT_PYTHON.exists():
        pytest.skip("real Prefect is not installed")
    program = tmp_path / "bad.py"
    program.write_text(BAD_PROGRAM)
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PREFECT_HOME": str(tmp_path)}
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


def test_messages_name_the_fix() -> None:
    with pytest.raises(ValidationError, match="lowercase letters, numbers, and dashes"):
        create_markdown_artifact("x", key="Nope")
    with pytest.raises(ValidationError, match="list of row dicts"):
        create_table_artifact("rows")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="JSON values only"):
        create_table_artifact([{"when": object()}])
    with pytest.raises(ValidationError, match="number from 0 to 100, got nan"):
        create_progress_artifact(float("nan"))
    with pytest.raises(ValidationError, match="the id a create returned"):
        update_progress_artifact("not-an-id", 5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- dispatch, outside runs
def test_dispatch_follows_the_run_not_the_caller(api_env: str) -> None:
    @task
    def sync_step() -> Any:
        return create_markdown_artifact("sync task in an async flow")

    @flow
    async def async_flow() -> list[Any]:
        coroutine = create_markdown_artifact("in an async flow")
        assert asyncio.iscoroutine(coroutine)
        forced = create_markdown_artifact("forced", _sync=True)  # type: ignore[call-arg]
        return [await coroutine, sync_step(), forced]

    made = asyncio.run(async_flow())
    assert all(isinstance(m, uuid.UUID) for m in made)
    assert create_markdown_artifact.aio is acreate_markdown_artifact  # type: ignore[attr-defined]


def test_outside_a_run_warns_like_prefect_and_async_callers_get_a_coroutine(
    api_env: str,
) -> None:
    with pytest.warns(FutureWarning, match="outside of a flow or task run is deprecated"):
        made = create_markdown_artifact("outside")
    assert isinstance(made, uuid.UUID)

    async def caller() -> Any:
        coroutine = create_markdown_artifact("outside, async")
        assert asyncio.iscoroutine(coroutine)
        return await coroutine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert isinstance(asyncio.run(caller()), uuid.UUID)


def test_reporting_off_sends_nothing_and_updates_do_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKIFF_REPORTING", "false")
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{prefect_server.free_port()}/api")

    @flow
    def offline() -> Any:
        made = create_progress_artifact(5)
        assert update_progress_artifact(made, 50) is made
        return made

    made = offline()
    assert isinstance(made, PendingArtifact) and made.id is None


# ---------------------------------------------------------------------- delivery in outages
@pytest.fixture(scope="module")
def own_server() -> Iterator[prefect_server.ServerHandle]:
    """A server of this module's own on port 4325, which the tests stop and restart."""
    handle = prefect_server.start(port=OWN_PORT)
    try:
        yield handle
    finally:
        handle.stop()


def _artifacts_of(http: httpx.Client, flow_run_id: uuid.UUID | None) -> list[dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
    rows: list[dict[str, Any]] = http.post("/artifacts/filter", json=body).json()
    return sorted(rows, key=lambda row: row["created"])


def test_server_stopped_mid_flow_loses_nothing(
    own_server: prefect_server.ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", own_server.api_url)
    seen: dict[str, Any] = {}

    @flow
    def through_an_outage() -> str:
        seen["run"] = _context.current_flow().run  # type: ignore[union-attr]
        seen["sent"] = create_progress_artifact(10, key="sent-before")
        own_server.stop()
        update_progress_artifact(seen["sent"], 55)  # id known: a buffered PATCH
        seen["md"] = create_markdown_artifact("# during", key="made-during")
        seen["progress"] = create_progress_artifact(0, description="first")
        update_progress_artifact(seen["progress"], 40)
        update_progress_artifact(seen["progress"], 80, description="later")  # folded in
        return "done"

    assert through_an_outage() == "done"  # the flow did not wait for the server
    assert isinstance(seen["sent"], uuid.UUID)
    for name in ("md", "progress"):
        assert isinstance(seen[name], PendingArtifact) and seen[name].id is None
    own_server.restart()
    assert engine.flush(60)
    http = httpx.Client(base_url=own_server.api_url, timeout=30)
    rows = _artifacts_of(http, seen["run"].id)
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == 3  # nothing lost, nothing twice
    assert by_id[str(seen["sent"])]["data"] == 55
    md = by_id[str(seen["md"].id)]
    assert (md["key"], md["type"], md["data"]) == ("made-during", "markdown", "# during")
    progress = by_id[str(seen["progress"].id)]
    assert (progress["data"], progress["description"]) == (80, "later")
    created = {
        e["resource"]["prefect.resource.id"]
        for e in wait_for(
            lambda: _events(http, "prefect.artifact.created", 3), what="the created events"
        )
    }
    assert created == {f"prefect.artifact.{row['id']}" for row in rows}


def _events(http: httpx.Client, name: str, at_least: int) -> list[dict[str, Any]]:
    body = {
        "filter": {"event": {"name": [name]}, "occurred": {"since": "2020-01-01T00:00:00Z"}},
        "limit": 50,
    }
    rows: list[dict[str, Any]] = http.post("/events/filter", json=body).json()["events"]
    return rows if len(rows) >= at_least else []


def test_server_unreachable_when_the_flow_starts(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, prefect_api_url: str
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    proxy.refuse()
    seen: dict[str, Any] = {}

    @flow
    def started_offline() -> None:
        seen["run"] = _context.current_flow().run  # type: ignore[union-attr]
        seen["link"] = create_link_artifact("https://example.com", link_text="Ex")
        seen["progress"] = create_progress_artifact(1)
        update_progress_artifact(seen["progress"], 100)

    started_offline()
    assert seen["run"].id is None and isinstance(seen["link"], PendingArtifact)
    proxy.accept()
    assert engine.flush(30)
    assert seen["link"].wait(0) is not None
    rows = _artifacts_of(httpx.Client(base_url=prefect_api_url), seen["run"].id)
    assert [(r["type"], r["data"]) for r in rows] == [
        ("markdown", "[Ex](https://example.com)"),
        ("progress", 100),
    ]


def test_once_a_report_is_buffered_later_ones_queue_behind_it(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, prefect_api_url: str
) -> None:
    # The run's create fails once, so the first artifact is buffered; when the reporter
    # sends it, the proxy holds it for 3 s. What the flow does meanwhile (server fine, run
    # id known) must not overtake it: the update lands after the create, and the second
    # artifact of the key stays its latest.
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    proxy.add("reset_before", r"/flow_runs/$", method="POST", times=1)
    proxy.add("delay", r"/artifacts/$", method="POST", times=1, seconds=3.0)
    key = f"order-{uuid.uuid4().hex[:8]}"
    seen: dict[str, Any] = {}

    @flow
    def ordered() -> None:
        ctx = _context.current_flow()
        assert ctx is not None and ctx.reporter is not None
        seen["first"] = create_progress_artifact(10, key=key)
        reporter = ctx.reporter
        wait_for(lambda: ctx.run.id is not None and not reporter.in_outage, what="the create")
        update_progress_artifact(seen["first"], 70)  # its create is on the wire
        seen["second"] = create_markdown_artifact("second", key=key)

    ordered()
    assert isinstance(seen["second"], PendingArtifact)
    assert engine.flush(30)
    http = httpx.Client(base_url=prefect_api_url)
    assert http.get(f"/artifacts/{seen['first'].id}").json()["data"] == 70
    assert http.get(f"/artifacts/{key}/latest").json()["data"] == "second"
