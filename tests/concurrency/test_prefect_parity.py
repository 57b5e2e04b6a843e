"""The same program under real Prefect 3.9.1 and under skiff leaves the same traces.

Each scenario is written with ``prefect`` imports and run twice in subprocesses: by
Prefect's own python, and rewritten to ``skiff`` imports (``tests.compat.harness.rewrite``)
by skiff's. Compared: what the program prints (outcomes and error messages), the requests
to ``/v2/concurrency_limits`` seen by a recording proxy (bodies with ids normalized), the
limits' active slots afterwards, and the events the server recorded for the limits.
Skipped when Prefect's python is not installed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from skiff import Client
from tests.compat import harness
from tests.concurrency.conftest import PREFECT_PYTHON, Limits, RecordingProxy

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not os.path.exists(PREFECT_PYTHON), reason="Prefect 3.9.1 not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
BUSY = (429, 502, 503)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

OUTSIDE_A_RUN = """
import asyncio, logging, os, time
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.concurrency import asyncio as aio

class Show(logging.Handler):
    def emit(self, record):
        print("log", record.name, record.levelname, record.getMessage())

logging.getLogger("prefect.concurrency").addHandler(Show(logging.WARNING))

DB, API, FULL, GONE = os.environ["DB"], os.environ["API"], os.environ["FULL"], os.environ["GONE"]

def outcome(call):
    try:
        call()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

def hold(**kwargs):
    with concurrency(kwargs.pop("names"), **kwargs):
        pass

with concurrency([DB, API], occupy=2):
    time.sleep(2)  # long enough for the renewal thread's first renewal
print("rate", outcome(lambda: rate_limit(API)))
print("missing", outcome(lambda: hold(names=GONE)))
print("strict", outcome(lambda: hold(names=GONE, strict=True)))
print("rate strict", outcome(lambda: rate_limit(GONE, strict=True)))
print("no retries", outcome(lambda: hold(names=FULL, max_retries=0)))
print("timeout", outcome(lambda: hold(names=FULL, timeout_seconds=0.5)))
print("too many", outcome(lambda: hold(names=DB, occupy=5)))
print("no decay", outcome(lambda: rate_limit(DB)))

async def main():
    async with aio.concurrency(DB):
        await asyncio.sleep(2)  # the first renewal races an empty body, in Prefect too
    await aio.rate_limit(API)
    try:
        await aio.rate_limit(GONE, strict=True)
    except aio.ConcurrencySlotAcquisitionError as exc:
        print("async strict", exc)

asyncio.run(main())
"""

IN_A_RUN = """
import os
from prefect import flow, task
from prefect.concurrency.sync import concurrency, rate_limit

DB, API, GONE = os.environ["DB"], os.environ["API"], os.environ["GONE"]

@task(tags=["parity"])
def guarded():
    with concurrency([API, DB], occupy=2):
        return 1

@flow
def limited():
    rate_limit(API)
    rate_limit(GONE)
    return guarded()

print(limited())
"""


def _run(side: str, source: str, api_url: str, env: dict[str, str], tmp: Path) -> list[str]:
    path = tmp / f"scenario_{side}.py"
    path.write_text(textwrap.dedent(source) if side == "prefect" else harness.rewrite(source))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    clean.pop("VIRTUAL_ENV", None)
    clean.update(env, PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp / f"home-{side}"))
    clean["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if side == "skiff":
        clean["PYTHONPATH"] = str(ROOT)
    python = PREFECT_PYTHON if side == "prefect" else sys.executable
    done = subprocess.run(
        [python, str(path)], env=clean, cwd=tmp, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{side} failed:\n{done.stderr[-3000:]}"
    return done.stdout.splitlines()


def _side_names(limits: Limits, side: str) -> dict[str, str]:
    return {
        "DB": limits.make(f"db-{side}", 3),
        "API": limits.make(f"api-{side}", 5, decay=5.0),
        "FULL": limits.make(f"full-{side}", 1),
        "GONE": limits.missing(f"gone-{side}"),
    }


def _neutral(value: Any, names: dict[str, str]) -> Any:
    """``value`` with ids as ``<id>`` and this side's limit names as their role."""
    text = str(value)
    for role, name in names.items():
        text = text.replace(name, role)
    return UUID.sub("<id>", text)


def test_outside_a_run(limits: Limits, prefect_api_url: str, tmp_path: Path) -> None:
    traces = {}
    for side in ("prefect", "skiff"):
        names = _side_names(limits, side)
        lease = limits.take(names["FULL"])
        proxy = RecordingProxy(prefect_api_url)
        try:
            out = _run(side, OUTSIDE_A_RUN, proxy.api_url, names, tmp_path)
            requests = [
                (r["method"], r["path"], r["status"], r["body"])
                for r in proxy.slot_requests()
                if r["status"] not in BUSY  # the shared SQLite server's retried refusals
            ]
        finally:
            proxy.close()
            limits.give_back(lease)
        actives = [limits.active(names[role]) for role in ("DB", "FULL")]
        neutral = [_neutral(r, names) for r in requests]
        # How often a 423 is retried depends on the server's random Retry-After: once is kept.
        polls = [r for i, r in enumerate(neutral) if i == 0 or r != neutral[i - 1]]
        traces[side] = (_neutral(out, names), polls, actives)
    assert traces["skiff"][0] == traces["prefect"][0]
    missing = "log prefect.concurrency WARNING Concurrency limits ['GONE'] do not exist"
    assert missing in traces["skiff"][0]  # the local line, on Prefect's logger name
    assert traces["skiff"][2] == traces["prefect"][2] == [0, 0]
    # Requests: the same, except that skiff checks its arguments before sending.
    assert traces["skiff"][1] == traces["prefect"][1]


def _events(http: Client, since: dt.datetime, names: dict[str, str], count: int) -> list[Any]:
    body = {
        "filter": {
            "occurred": {"since": since.isoformat()},
            "event": {
                "prefix": [
                    "prefect.concurrency-limit.acquired",
                    "prefect.concurrency-limit.released",
                ]
            },
            "resource": {"labels": {"prefect.resource.name": list(names.values())}},
            "order": "ASC",
        },
        "limit": 50,
    }
    deadline = time.monotonic() + 60
    while True:
        found = [
            e
            for e in http.request("POST", "/events/filter", json=body).json()["events"]
            if e["resource"]["prefect.resource.name"] in names.values()
        ]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    shape = []
    for event in found:
        related = [
            (role, "<generated>" if role == "flow-run" else name.rsplit("-", 1)[0])
            for r in event["related"]
            for role, name in [(r["prefect.resource.role"], r.get("prefect.resource.name", ""))]
        ]
        resource = {k: v for k, v in event["resource"].items() if k != "prefect.resource.id"}
        shape.append((event["event"], resource, related, event["follows"] is not None))
    # Within one run the limits' events are simultaneous; their order is the server's.
    return sorted(_neutral(one, names) for one in shape)


def _logs(http: Client, since: dt.datetime, names: dict[str, str], count: int) -> list[Any]:
    body = {
        "logs": {"timestamp": {"after_": since.isoformat()}, "level": {"ge_": 30}},
        "limit": 200,
    }
    deadline = time.monotonic() + 60
    while True:
        found = [
            (log["level"], _neutral(log["message"], names), log["task_run_id"] is not None)
            for log in http.request("POST", "/logs/filter", json=body).json()
            if names["GONE"] in log["message"] or names["DB"] in log["message"]
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.5)


def test_in_a_run_events_and_log_lines(
    limits: Limits, prefect_api_url: str, tmp_path: Path
) -> None:
    traces = {}
    http = Client(prefect_api_url)
    for side in ("prefect", "skiff"):
        names = _side_names(limits, side)
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        out = _run(side, IN_A_RUN, prefect_api_url, names, tmp_path)
        events = _events(http, since, names, count=5)
        logs = _logs(http, since, names, count=1)
        traces[side] = (out, events, logs, limits.active(names["DB"]))
    http.close()
    assert traces["skiff"][0] == traces["prefect"][0] == ["1"]
    assert traces["skiff"][1] == traces["prefect"][1]
    # The lines' logger names are the engine's (prefect.flow_runs); compared by the compat suite.
    assert traces["skiff"][2] == traces["prefect"][2]
    assert traces["skiff"][3] == traces["prefect"][3] == 0


HOLDER = """
import os, sys, time
from prefect.concurrency.sync import concurrency

with concurrency(os.environ["DB"]):
    print("holding", flush=True)
    time.sleep(float(os.environ["HOLD"]))
"""


def test_skiff_waits_for_a_prefect_holder(
    limits: Limits, recorder: RecordingProxy, prefect_api_url: str, tmp_path: Path
) -> None:
    from skiff.concurrency.sync import concurrency

    db = limits.make("db", 1)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env.update(DB=db, HOLD="3", PREFECT_API_URL=prefect_api_url, PREFECT_HOME=str(tmp_path))
    prefect = subprocess.Popen(
        [PREFECT_PYTHON, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert prefect.stdout is not None and prefect.stdout.readline() == "holding\n"
        with concurrency(db, timeout_seconds=120):
            assert limits.active(db) == 1  # ours: Prefect let go of its slot
        statuses = [r["status"] for r in recorder.slot_requests() if "increment" in r["path"]]
        assert statuses[0] == 423 and statuses[-1] == 200  # waited for Prefect's release
    finally:
        prefect.wait(60)
    assert prefect.returncode == 0 and limits.active(db) == 0
