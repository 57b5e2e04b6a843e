"""Delivery rules on their own: budgets, hurry order, at-most-once logs, the spool's placeholders.

The transport is scripted here (no server), so each rule is pinned to its mechanism; the
same rules are exercised against a real server in ``tests/faults``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from skiff._engine import _spool
from skiff._engine._budget import Latency, flush_budget, requests_needed, start_budget
from skiff._engine._items import (
    CONTROL_SIZE,
    INFO_LOG,
    KEEP,
    CreateSpec,
    Item,
    RunRef,
    run_id,
)
from skiff._engine._reporter import Reporter
from skiff.client._exceptions import APIConnectionError, APIStatusError
from skiff.client._retry import retry_delay
from skiff.client._settings import Settings

Handler = Callable[[str, str, dict[str, Any]], httpx.Response]


class ScriptedTransport:
    """Answers requests with ``handler``; records (method, path, body) of each attempt."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        body = kwargs.get("json")
        if body is None and kwargs.get("content") is not None:
            body = msgspec.json.decode(kwargs["content"])
        self.sent.append((method, path, body))
        return self.handler(method, path, kwargs)


def _ok(status: int = 201, body: Any = None) -> httpx.Response:
    request = httpx.Request("POST", "http://test/api/x")
    return httpx.Response(status, json=body if body is not None else {}, request=request)


def _reporter(transport: ScriptedTransport, **settings: Any) -> Reporter:
    loaded = Settings.load({}, api_url="http://127.0.0.1:9/api", flush_interval=3600, **settings)
    return Reporter(loaded, transport)  # type: ignore[arg-type]


def _server(flow_run_id: str) -> Handler:
    def handle(method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        if path == "/flows/":
            return _ok(body={"id": str(uuid.uuid4())})
        if path == "/flow_runs/":
            return _ok(body={"id": flow_run_id, "name": "replayed"})
        return _ok()

    return handle


def _down(method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
    raise APIConnectionError(f"{method} {path}: refused", maybe_processed=False)


# ------------------------------------------------------------------ budgets
def test_flush_budget_is_the_smaller_of_timeout_and_time_left() -> None:
    now = time.monotonic()
    assert flush_budget(2.0, None, 0.2) == 2.0
    assert flush_budget(2.0, now + 30, 0.2) == pytest.approx(2.0)
    assert flush_budget(10.0, now + 1.0, 0.2) == pytest.approx(0.8, abs=0.05)
    assert flush_budget(10.0, now - 5, 0.2) == 0.0


def test_start_budget_takes_a_quarter_of_the_time_left_at_most_five_seconds() -> None:
    now = time.monotonic()
    assert start_budget(None) == 5.0
    assert start_budget(now + 8) == pytest.approx(2.0, abs=0.05)
    assert start_budget(now + 300) == 5.0
    assert start_budget(now - 1) == 0.0


def test_requests_needed_and_latency_estimate() -> None:
    assert requests_needed(2, 501, 0, 500) == 4
    latency = Latency(window=3)
    assert latency.estimate() == 0.0
    for seconds in (0.1, 2.0, 0.2, 0.3, 0.1):
        latency.observe(seconds)
    assert latency.estimate() == 0.3  # the window forgot the 2 s outlier


def test_reporter_retries_a_503_soon_but_honours_retry_after() -> None:
    request = httpx.Request("POST", "http://test/api/logs/")
    busy = APIStatusError("busy", response=httpx.Response(503, request=request))
    asked = APIStatusError(
        "busy", response=httpx.Response(503, headers={"Retry-After": "3"}, request=request)
    )
    assert retry_delay(1, busy, rand=lambda: 0.5) == 2.0  # the client: prefect-like
    assert retry_delay(1, busy, rand=lambda: 0.5, patient=False) == 0.5  # the reporter
    assert retry_delay(1, asked, rand=lambda: 0.0, patient=False) == 3.0


# ------------------------------------------------------------------ hurry
def test_near_the_deadline_the_final_state_goes_before_the_logs() -> None:
    def slow(method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        time.sleep(0.2)
        return _ok()

    transport = ScriptedTransport(slow)
    reporter = _reporter(transport)
    reporter.latency.observe(0.2)
    for i in range(20 * 500):  # 20 batches: 4 s at 0.2 s each
        reporter.put(Item("log", INFO_LOG, lambda i=i: {"n": i}, 10))
    reporter.put(Item("request", KEEP, lambda: ("POST", "/final", {}), CONTROL_SIZE))
    reporter.flush(1.0)
    paths = [p for _, p, _ in transport.sent]
    # At most the chunk already in flight (2 batches) goes before it; not all logs went.
    assert paths.index("/final") <= 2 and len(paths) < 21, paths


# ------------------------------------------------------------------ logs at most once
@pytest.mark.parametrize(("maybe_processed", "copies"), [(True, 0), (False, 1)])
def test_a_log_batch_that_may_have_landed_is_not_sent_again(
    maybe_processed: bool, copies: int
) -> None:
    failures = [1]

    def flaky(method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        if failures[0]:
            failures[0] -= 1
            raise APIConnectionError("reset", maybe_processed=maybe_processed)
        return _ok()

    transport = ScriptedTransport(flaky)
    reporter = _reporter(transport)
    reporter.put(Item("log", INFO_LOG, lambda: {"m": "once"}, 10))
    reporter.flush(5)
    assert len(transport.sent) == 1 + copies
    assert reporter.dropped == 1 - copies


# ------------------------------------------------------------------ spool
def test_a_run_created_in_an_outage_is_spooled_with_placeholders_and_replayed(
    tmp_path: Path,
) -> None:
    spool = str(tmp_path / "spool")
    run = RunRef()
    body = {"idempotency_key": "k-1", "state": {"type": "RUNNING"}}
    down = _reporter(ScriptedTransport(_down), spool_dir=spool)
    down.put(Item("create", KEEP, lambda: CreateSpec("etl", body, run), CONTROL_SIZE))
    down.put(Item("log", INFO_LOG, lambda: {"m": "hi", "flow_run_id": run_id(run)}, 10))
    down.put(
        Item(
            "request",
            KEEP,
            lambda: ("POST", f"/flow_runs/{run_id(run)}/set_state", {"state": "done"}),
            CONTROL_SIZE,
        )
    )
    down.close(0.3)
    assert down.dropped == 0
    (written,) = Path(spool).iterdir()
    assert f"skiff-ref-{run.ref}" in written.read_text()

    new_id = str(uuid.uuid4())
    transport = ScriptedTransport(_server(new_id))
    up = _reporter(transport, spool_dir=spool)
    assert up.flush(5)
    sent = [(p, b) for _, p, b in transport.sent]
    assert sent[1] == ("/flow_runs/", {**body, "flow_id": sent[1][1]["flow_id"]})
    assert sent[2] == ("/logs/", [{"m": "hi", "flow_run_id": new_id}])
    assert sent[3] == (f"/flow_runs/{new_id}/set_state", {"state": "done"})
    assert list(Path(spool).iterdir()) == []


def test_a_spool_file_is_claimed_by_one_process_only(tmp_path: Path) -> None:
    _spool.write(str(tmp_path), [{"op": "request", "method": "POST", "path": "/x", "body": {}}])
    results: list[list[Any]] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        results.append(_spool.claim(str(tmp_path), lambda path, exc: None))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]


def test_a_placeholder_without_its_create_is_dropped_not_stuck() -> None:
    record = {
        "op": "request",
        "method": "POST",
        "path": "/logs/",
        "body": ["skiff-ref-" + "a" * 32],
    }
    (item,) = _spool.to_items([record])
    transport = ScriptedTransport(_server(str(uuid.uuid4())))
    reporter = _reporter(transport)
    reporter.put(item)
    assert reporter.flush(2)
    assert transport.sent == [] and reporter.dropped == 1
