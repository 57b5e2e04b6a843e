"""Load under faults: many concurrent Lambda invocations, counted afterwards on the server.

Each case runs ``INVOCATIONS`` invocations, ``CONCURRENCY`` at a time, of a ``lambda_flow``
handler that runs two ``@task``s and logs two lines, against a Prefect server on PostgreSQL,
under the real ``awslambdaric`` in skiff's Lambda emulator (freezing on). The emulator
serves one function's invocations one at a time, as one Lambda sandbox does, so
concurrency N is N functions with the same code:
N runtime processes, each warm after its first (cold) invocation. The runtimes talk to the
server through :class:`~tests.faults.proxy.FaultProxy`: healthy (no rule) or with 20% of
all API requests answered 503. The counting reads the server directly.

Every invocation carries a unique marker (its event's ``marker``, also its request id), so
flow runs map back to invocations by their ``event`` parameter. After the last invocation
returns, the server's asynchronous task-run recorder is given a bounded time to settle.
Then the figures are printed (and shown in the terminal summary) and the goals asserted:
every result returned, no run lost, none duplicated, none left non-final.

``benchmarks/bench_reliability.py`` runs the same scenario, bigger.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from scripts import prefect_server
from skiff.adapters.aws_lambda.emulator import FunctionConfig, InvocationResult, LambdaEmulator
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server

INVOCATIONS = 200
CONCURRENCY = 20
FAULT_RATE = 0.2
TASKS_PER_RUN = 2
LOGS_PER_RUN = 2
FUNCTION_TIMEOUT = 15.0  # seconds, the Lambda function's timeout
SETTLE_LIMIT = 45.0  # the longest wait for the server's recorder after the last return
SETTLE_QUIET = 6.0  # ... or give up earlier once nothing has changed for this long
FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})

APP = textwrap.dedent(
    """
    from skiff import get_run_logger, task
    from skiff.adapters.aws_lambda import lambda_flow


    @task
    def square(x):
        return x * x


    @task
    def plus_one(y):
        return y + 1


    @lambda_flow(name={flow_name!r})
    def handler(event, context):
        logger = get_run_logger()
        logger.info("start %s", event["marker"])
        value = plus_one(square(event["x"]))
        logger.info("done %s", event["marker"])
        return {{"marker": event["marker"], "value": value}}
    """
)


def expected(x: int) -> int:
    """What the handler returns for ``x``."""
    return x * x + 1


@dataclass
class Invocation:
    """One invocation as the caller saw it."""

    marker: str
    x: int
    function: str = ""  # the sandbox that ran it (its runtime log is <function>.log)
    result: InvocationResult | None = None
    error: str | None = None
    wait: float = 0.0  # the caller's wait, seconds

    @property
    def returned(self) -> bool:
        r = self.result
        return (
            r is not None
            and r.status == "success"
            and r.payload == {"marker": self.marker, "value": expected(self.x)}
        )


@dataclass
class Figures:
    """What the server shows of one case, and what the caller saw."""

    label: str
    invocations: int
    returned: int = 0
    lost: int = 0
    duplicated: int = 0
    non_final: int = 0
    tasks_missing: int = 0
    logs_missing: int = 0
    unmapped: int = 0
    states: Counter[str] = field(default_factory=Counter)
    p50: float = 0.0
    p95: float = 0.0
    p95_warm: float = 0.0
    run_seconds: float = 0.0
    settle_seconds: float = 0.0
    faults: int = 0
    failures: list[str] = field(default_factory=list)
    # Samples for diagnosis: "marker (sandbox)" of lost and of non-final runs.
    lost_samples: list[str] = field(default_factory=list)
    non_final_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The goals: every result returned, nothing lost, duplicated or left non-final."""
        return (
            self.returned == self.invocations
            and self.lost == 0
            and self.duplicated == 0
            and self.non_final == 0
        )


COLUMNS = (
    ("case", 22, lambda f: f.label),
    ("invoked", 7, lambda f: f.invocations),
    ("returned", 8, lambda f: f.returned),
    ("lost", 5, lambda f: f.lost),
    ("dup", 4, lambda f: f.duplicated),
    ("nonfinal", 8, lambda f: f.non_final),
    ("tasks-", 6, lambda f: f.tasks_missing),
    ("logs-", 6, lambda f: f.logs_missing),
    ("p50 s", 6, lambda f: f"{f.p50:.2f}"),
    ("p95 s", 6, lambda f: f"{f.p95:.2f}"),
    ("p95w s", 6, lambda f: f"{f.p95_warm:.2f}"),
    ("run s", 6, lambda f: f"{f.run_seconds:.1f}"),
    ("settle s", 8, lambda f: f"{f.settle_seconds:.1f}"),
    ("503s", 5, lambda f: f.faults),
)


def table(rows: list[Figures], title: str = "") -> str:
    """The figures as a fixed-width table, with a legend and each case's final states."""
    lines = [title] if title else []
    lines.append(" ".join(f"{name:>{width}}" for name, width, _ in COLUMNS))
    for row in rows:
        lines.append(" ".join(f"{get(row)!s:>{width}}" for _, width, get in COLUMNS))
    lines.append(
        "returned: correct result back to the caller; lost: invocations without a flow run; "
        "dup: extra flow runs; nonfinal: runs not Completed/Failed/Crashed/Cancelled; "
        f"tasks-/logs-: missing of {TASKS_PER_RUN}/{LOGS_PER_RUN} per invocation; "
        "p50/p95: the caller's wait (p95w: warm invocations only); run: wall time of all "
        "invocations; settle: wait for the server afterwards; 503s: injected"
    )
    for row in rows:
        states = ", ".join(f"{k} {v}" for k, v in sorted(row.states.items()))
        lines.append(f"  {row.label}: states {states or '-'}; unmapped runs {row.unmapped}")
        for failure in row.failures[:3]:
            lines.append(f"    not returned: {failure}")
        if row.lost_samples:
            lines.append(f"    lost, e.g.: {', '.join(row.lost_samples[:3])}")
        if row.non_final_samples:
            lines.append(f"    non-final, e.g.: {', '.join(row.non_final_samples[:3])}")
    return "\n".join(lines)


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# ---------------------------------------------------------------------------------- reading


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in (429, 503)
    return isinstance(exc, httpx.TransportError)


class ServerView:
    """Reads a case's runs, task runs and logs straight from the server (never via skiff)."""

    PAGE = 200  # the server's default (and largest) page

    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=60)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    @retry(
        retry=retry_if_exception(_transient),
        wait=wait_exponential(multiplier=0.2, max=2),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def _post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        reply = self.http.post(path, json=body)
        reply.raise_for_status()
        data: list[dict[str, Any]] = reply.json()
        return data

    def _all(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self._post(path, {**body, "limit": self.PAGE, "offset": len(out)})
            out.extend(page)
            if len(page) < self.PAGE:
                return out

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        """Every flow run of the flow named ``flow_name``."""
        body = {"flows": {"name": {"any_": [flow_name]}}, "sort": "ID_DESC"}
        return self._all("/flow_runs/filter", body)

    def task_runs(self, flow_name: str) -> list[dict[str, Any]]:
        """Every task run of that flow's runs."""
        body = {"flows": {"name": {"any_": [flow_name]}}, "sort": "ID_DESC"}
        return self._all("/task_runs/filter", body)

    def logs(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """Every log line of those flow runs."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(run_ids), 200):
            chunk = run_ids[start : start + 200]
            body = {"logs": {"flow_run_id": {"any_": chunk}}, "sort": "TIMESTAMP_ASC"}
            out.extend(self._all("/logs/filter", body))
        return out


def _marker_of(run: dict[str, Any], by_request: dict[str, str]) -> str | None:
    event = (run.get("parameters") or {}).get("event")
    if isinstance(event, dict) and isinstance(event.get("marker"), str):
        return str(event["marker"])
    request_id = (run.get("labels") or {}).get("aws.lambda.request_id")
    return by_request.get(str(request_id)) if request_id else None


def count(view: ServerView, flow_name: str, invocations: list[Invocation], figures: Figures) -> int:
    """Fill ``figures`` from the server; returns how many things are still missing."""
    markers = {inv.marker for inv in invocations}
    where = {inv.marker: inv.function for inv in invocations}
    by_request = {inv.marker: inv.marker for inv in invocations}  # the marker is the request id
    runs = view.flow_runs(flow_name)
    per_marker: dict[str, list[dict[str, Any]]] = {m: [] for m in markers}
    marker_of_run: dict[str, str] = {}
    unmapped = 0
    for run in runs:
        marker = _marker_of(run, by_request)
        if marker in per_marker:
            per_marker[marker].append(run)
            marker_of_run[run["id"]] = marker
        else:
            unmapped += 1
    tasks: Counter[str] = Counter()
    for task_run in view.task_runs(flow_name):
        marker = marker_of_run.get(str(task_run.get("flow_run_id")))
        if marker and task_run.get("state_type") == "COMPLETED":
            tasks[marker] += 1
    logs: Counter[str] = Counter()
    for line in view.logs(list(marker_of_run)):
        marker = marker_of_run.get(str(line.get("flow_run_id")))
        message = str(line.get("message", ""))
        if marker and message in (f"start {marker}", f"done {marker}"):
            logs[marker] += 1
    figures.unmapped = unmapped
    figures.lost = sum(1 for m in markers if not per_marker[m])
    figures.duplicated = sum(max(0, len(r) - 1) for r in per_marker.values())
    figures.states = Counter(str(r.get("state_name")) for rs in per_marker.values() for r in rs)
    figures.non_final = sum(
        1 for rs in per_marker.values() for r in rs if r.get("state_type") not in FINAL
    )
    figures.lost_samples = [f"{m} ({where[m]})" for m in sorted(markers) if not per_marker[m]]
    figures.non_final_samples = [
        f"{m} ({where[m]}, {r.get('state_name')})"
        for m, rs in sorted(per_marker.items())
        for r in rs
        if r.get("state_type") not in FINAL
    ]
    figures.tasks_missing = sum(max(0, TASKS_PER_RUN - tasks[m]) for m in markers)
    figures.logs_missing = sum(max(0, LOGS_PER_RUN - logs[m]) for m in markers)
    return figures.lost + figures.non_final + figures.tasks_missing + figures.logs_missing


# ---------------------------------------------------------------------------------- running

# The scripts' own settings (where the server lives), not the SDK's; the sandboxes may see them.
_KEEP = frozenset({"SKIFF_TEST_API_URL", "SKIFF_CACHE_DIR", "SKIFF_SERVER_ENV"})


@contextmanager
def _without_sdk_settings() -> Iterator[None]:
    # Sandboxes inherit this process's environment; a stray SKIFF_* or PREFECT_* from the
    # shell would change what is measured.
    saved = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("PREFECT_", "SKIFF_")) and k not in _KEEP
    }
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


@contextmanager
def lambda_fleet(
    api_url: str, flow_name: str, concurrency: int, root: Path, timeout: float = FUNCTION_TIMEOUT
) -> Iterator[tuple[LambdaEmulator, list[str]]]:
    """One emulator hosting ``concurrency`` copies of the function: that many sandboxes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "load_app.py").write_text(APP.format(flow_name=flow_name))
    env = {"PREFECT_API_URL": api_url, "TMPDIR": "/tmp"}
    names = [f"load-{i:03d}" for i in range(concurrency)]
    functions = [
        FunctionConfig(name, "load_app.handler", str(root), timeout=timeout, env=env)
        for name in names
    ]
    with LambdaEmulator(functions, freeze=True, log_dir=str(root / "logs")) as emulator:
        yield emulator, names


def invoke_all(emulator: LambdaEmulator, names: list[str], invocations: list[Invocation]) -> float:
    """Run every invocation, one worker thread per sandbox; returns the wall time."""
    todo: queue.SimpleQueue[Invocation] = queue.SimpleQueue()
    for inv in invocations:
        todo.put(inv)

    def worker(name: str) -> None:
        while True:
            try:
                inv = todo.get_nowait()
            except queue.Empty:
                return
            event = {"marker": inv.marker, "x": inv.x}
            inv.function = name
            began = time.perf_counter()
            try:
                inv.result = emulator.invoke(name, event, request_id=inv.marker)
            except Exception as exc:  # counted as not returned
                inv.error = f"{type(exc).__name__}: {exc}"
            inv.wait = time.perf_counter() - began

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,), name=f"invoke-{n}") for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def settle(
    check: Callable[[], int], limit: float = SETTLE_LIMIT, quiet: float = SETTLE_QUIET
) -> float:
    """Re-count until nothing is missing, nothing changed for ``quiet`` s, or ``limit`` s."""
    began = time.monotonic()
    last, changed = check(), began
    while last and time.monotonic() - began < limit and time.monotonic() - changed < quiet:
        time.sleep(1.0)
        now = check()
        if now != last:
            last, changed = now, time.monotonic()
    return time.monotonic() - began


def run_case(
    label: str,
    api_url: str,
    scratch: Path,
    *,
    invocations: int = INVOCATIONS,
    concurrency: int = CONCURRENCY,
    fault_rate: float = 0.0,
    seed: int = 0,
    timeout: float = FUNCTION_TIMEOUT,
) -> Figures:
    """Run one case against the server at ``api_url`` and count what it shows."""
    flow_name = f"load-{label}-{uuid.uuid4().hex[:8]}"
    calls = [Invocation(str(uuid.uuid4()), i) for i in range(invocations)]
    figures = Figures(label, invocations)
    with ExitStack() as stack:
        # Healthy cases talk to the server directly: the proxy costs CPU on this machine.
        proxy = FaultProxy(api_url, seed=seed) if fault_rate else None
        if proxy is not None:
            stack.callback(proxy.close)
            proxy.add("503", "", probability=fault_rate)
        view = ServerView(api_url)
        stack.callback(view.close)
        stack.enter_context(_without_sdk_settings())
        target = proxy.api_url if proxy is not None else api_url
        emulator, names = stack.enter_context(
            lambda_fleet(target, flow_name, concurrency, scratch / label, timeout)
        )
        figures.run_seconds = invoke_all(emulator, names, calls)
        # The sandboxes stay frozen while we count: what is missing now was never sent.
        figures.settle_seconds = settle(lambda: count(view, flow_name, calls, figures))
        figures.faults = proxy.faults["503"] if proxy is not None else 0
    figures.returned = sum(1 for c in calls if c.returned)
    waits = [c.wait for c in calls]
    warm = [c.wait for c in calls if c.result is not None and not c.result.cold_start]
    figures.p50, figures.p95 = _percentile(waits, 50), _percentile(waits, 95)
    figures.p95_warm = _percentile(warm, 95)
    figures.failures = [
        f"{c.marker}: {c.error or (c.result and c.result.status)} "
        f"{json.dumps(c.result.payload)[:200] if c.result else ''}"
        for c in calls
        if not c.returned
    ]
    return figures


# ---------------------------------------------------------------------------------- tests


# PostgreSQL only: 20 sandboxes keep a SQLite server answering 503 "database is locked"
# for longer than the functions' deadlines, so its figures measure SQLite, not skiff, and
# cannot be asserted. ``benchmarks/bench_reliability.py --databases sqlite`` prints them.
@pytest.mark.parametrize("fault_rate", [0.0, FAULT_RATE], ids=["postgres-healthy", "postgres-503"])
def test_load(
    fault_rate: float,
    postgres_server: prefect_server.ServerHandle,
    tmp_path: Path,
    load_report: Callable[[str], Path],
) -> None:
    """200 invocations, 20 at a time: every result back, no run lost, duplicated or Running."""
    api_url: str = postgres_server.api_url
    label = f"postgres-{'503' if fault_rate else 'healthy'}"
    figures = run_case(label, api_url, tmp_path, fault_rate=fault_rate)
    text = table(
        [figures], f"{INVOCATIONS} Lambda invocations, {CONCURRENCY} concurrent ({label}):"
    )
    path = load_report(text)
    print(f"\n{text}\n(report file: {path})")
    assert figures.returned == figures.invocations, "some results did not reach the caller"
    assert figures.duplicated == 0, f"{figures.duplicated} extra flow runs"
    assert figures.lost == 0, f"{figures.lost} invocations have no flow run"
    assert figures.non_final == 0, f"{figures.non_final} runs left non-final: {figures.states}"
