"""Event and log subscriptions, and event emitting, against a real Prefect 3.9.1 server."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import prefect_server
from skiff.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    NotFoundError,
    ValidationError,
)
from tests.faults.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
AUTH = "admin:s3cret-stream"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[str]:
    """A second real server that wants PREFECT_SERVER_API_AUTH_STRING and streams logs.

    Prefect 3.9.1 streams logs only with both LOGS_STREAM settings on (both default off).
    """
    reuse = os.environ.get("SKIFF_TEST_AUTH_API_URL")  # a server started by hand, for speed
    if reuse:
        yield reuse
        return
    handle = prefect_server.start(
        extra_env={
            "PREFECT_SERVER_API_AUTH_STRING": AUTH,
            "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
            "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
        }
    )
    try:
        yield handle.api_url
    finally:
        handle.stop()


def _rid(uid: str) -> str:
    return f"skiff.test.stream.{uid}"


@pytest.mark.server
def test_subscriber_receives_event_from_another_process_within_1s(
    prefect_api_url: str, uid: str
) -> None:
    rid = _rid(uid)
    code = (
        "import sys; from skiff import Client\n"
        "with Client(sys.argv[1]) as c:\n"
        "    c.events.emit_event('skiff.test.ping', {'prefect.resource.id': sys.argv[2]})\n"
    )
    with (
        Client(prefect_api_url) as client,
        client.events.subscribe(filter={"resource": {"id": [rid]}}) as events,
    ):
        proc = subprocess.run(
            [sys.executable, "-c", code, prefect_api_url, rid],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        event = next(iter(events))
        received = dt.datetime.now(dt.timezone.utc)
    latency = (received - event.occurred).total_seconds()
    print(f"\n(1) emit in a subprocess -> received: {latency * 1000:.0f} ms")
    assert event.event == "skiff.test.ping"
    assert event.resource["prefect.resource.id"] == rid
    assert latency < 1.0


def _emit_steadily(api_url: str, rid: str, total: int, done: threading.Event) -> list[str]:
    ids: list[str] = []
    with Client(api_url) as client:
        for start in range(0, total, 20):
            batch = [
                {"event": "skiff.test.seq", "resource": {"prefect.resource.id": rid}}
                for _ in range(min(20, total - start))
            ]
            ids.extend(str(e.id) for e in client.events.emit(batch))
            time.sleep(0.02)
    done.set()
    return ids


@pytest.mark.server
def test_1000_events_through_cut_and_refused_connection_arrive_once(
    prefect_api_url: str, uid: str
) -> None:
    rid = _rid(uid)
    received: list[str] = []
    done = threading.Event()
    emitted: list[str] = []
    with TcpProxy(prefect_api_url) as proxy, Client(proxy.url) as client:
        subscription = client.events.subscribe(filter={"resource": {"id": [rid]}}, sweep_delay=6)
        with subscription as events:
            emitter = threading.Thread(
                target=lambda: emitted.extend(_emit_steadily(prefect_api_url, rid, 1000, done))
            )
            emitter.start()
            deadline = time.monotonic() + 45
            faulted = False
            for event in events:
                received.append(str(event.id))
                if len(received) == 300 and not faulted:
                    faulted = True
                    proxy.refuse(1.0)  # every connection reset; new ones refused for 1 s
                if done.is_set() and len(set(received)) >= len(emitted):
                    break
                assert time.monotonic() < deadline, f"only {len(set(received))} of 1000 arrived"
            emitter.join()
    print(
        f"\n(2) 1000 events, 1 cut + 1 s refusal: received {len(received)}, unique "
        f"{len(set(received))}, lost {len(set(emitted) - set(received))}, connections "
        f"{subscription.connections}, replays dropped {subscription.duplicates}, recovered by "
        f"the sweep {subscription.swept}"
    )
    assert proxy.cuts >= 1 and subscription.connections >= 2
    assert len(received) == len(set(received)), "duplicates delivered"
    assert set(received) == set(emitted)


@pytest.mark.server
def test_flow_logs_arrive_through_logs_subscribe(
    auth_server: str, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", auth_server)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", AUTH)
    from skiff import flow, flush, get_run_logger

    @flow(name=f"stream-logs-{uid}")
    def logs_something() -> None:
        logger = get_run_logger()
        for n in range(3):
            logger.info("line %d of %s", n, uid)

    with (
        Client(auth_server, auth_string=AUTH) as client,
        client.logs.subscribe(filter={"level": {"ge_": 20}}) as logs,
    ):
        logs_something()
        flush(10)
        lines = []
        for log in logs:
            # (the engine's own lines, "Beginning flow run ...", name the flow and its uid)
            if log.message.startswith("line ") and uid in log.message:
                lines.append(log)
            if len(lines) == 3:
                break
    assert [log.message for log in lines] == [f"line {n} of {uid}" for n in range(3)]
    assert all(log.flow_run_id for log in lines)


@pytest.mark.anyio
@pytest.mark.server
async def test_async_subscribe_and_emit(prefect_api_url: str, uid: str) -> None:
    rid = _rid(uid)
    async with (
        AsyncClient(prefect_api_url) as client,
        client.events.subscribe(filter={"resource": {"id": [rid]}}) as events,
    ):
        sent = await client.events.emit_event(
            "skiff.test.async", {"prefect.resource.id": rid}, payload={"n": 1}
        )
        async for event in events:
            assert event.id == sent.id and event.payload == {"n": 1}
            break


def test_malformed_filters_name_the_fix() -> None:
    with Client("http://127.0.0.1:9/api") as client:
        with pytest.raises(ValidationError, match=r"unknown filter field\(s\) 'resourse'.*has:"):
            client.events.subscribe(filter={"resourse": {"id": ["x"]}})
        with pytest.raises(ValidationError, match=r"invalid filter.*`\$\.occurred\.since`"):
            client.events.subscribe(filter={"occurred": {"since": "yesterday"}})
        with pytest.raises(ValidationError, match="LogFilter"):
            client.logs.subscribe(filter=["not", "a", "filter"])  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match=r"prefect\.resource\.id"):
            client.events.emit([{"event": "x", "resource": {}}])


class _NotFound(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # websockets refuses HTTP/1.0 answers outright

    def do_GET(self) -> None:
        body = b'{"detail":"Not Found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_server_without_websocket_routes_is_a_not_found_naming_the_proxy() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{server.server_address[1]}/api")
        with pytest.raises(NotFoundError, match="passes WebSocket upgrades") as info:
            client.events.subscribe().__enter__()
        client.close()
    finally:
        server.shutdown()
    assert "PREFECT_API_URL" in str(info.value)


@pytest.mark.server
def test_socket_auth_refused_and_accepted(auth_server: str, uid: str) -> None:
    with (
        Client(auth_server, auth_string="admin:wrong") as client,
        pytest.raises(AuthenticationError, match="PREFECT_API_AUTH_STRING"),
    ):
        client.events.subscribe().__enter__()
    rid = _rid(uid)
    with (
        Client(auth_server, auth_string=AUTH) as client,
        client.events.subscribe(filter={"resource": {"id": [rid]}}) as events,
    ):
        client.events.emit_event("skiff.test.auth", {"prefect.resource.id": rid})
        assert next(iter(events)).resource["prefect.resource.id"] == rid


@pytest.mark.server
def test_subscriber_that_stops_reading_stays_bounded_then_resumes(
    prefect_api_url: str, uid: str
) -> None:
    rid = _rid(uid)
    with Client(prefect_api_url) as client:
        subscription = client.events.subscribe(
            filter={"resource": {"id": [rid]}}, max_buffered=50, sweep_delay=6
        )
        with subscription as events:
            sent = client.events.emit(
                [{"event": "skiff.test.slow", "resource": {"prefect.resource.id": rid}}] * 300
            )
            time.sleep(2)  # not reading: the reader closes the socket at 50 buffered
            assert subscription.buffered <= 50
            assert subscription.overflows >= 1
            got = set()
            deadline = time.monotonic() + 30
            for event in events:
                got.add(event.id)
                if len(got) == len(sent) or time.monotonic() > deadline:
                    break
    assert got == {e.id for e in sent}


def test_missing_extra_names_the_install() -> None:
    code = (
        "import sys; sys.modules['websockets'] = None\n"
        "from skiff.client import Client, SkiffError\n"
        "try:\n"
        "    Client('http://127.0.0.1:9/api').events.subscribe()\n"
        "except SkiffError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert "MissingExtraError" in out.stdout and "skiff[stream]" in out.stdout, out.stderr
