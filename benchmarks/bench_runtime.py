"""skiff's runtime beside prefect-client's, against the same real Prefect 3.9.1 server.

Run: ``.venv/bin/python benchmarks/bench_runtime.py`` (starts its own server).

Measures, for each side (Prefect runs in the server environment's python, as a subprocess;
skiff in ours, also as a subprocess, so neither warms the other's caches):

* per-task overhead with reporting on: inside a flow, (N task calls - N plain calls) / N,
  best of 5 (the server shares the machine and records the previous round meanwhile, so
  the median mostly measures that contention);
* a warm empty flow end to end, including skiff's flush (Prefect's call is synchronous);
* HTTP requests per warm empty flow, counted with a hook on httpx's ``send``;
* seconds from the call until the server shows all 1000 task runs of a flow COMPLETED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402

SIDE = textwrap.dedent(
    """
    import json, statistics, sys, time, uuid
    KIND = sys.argv[1]
    import httpx
    if KIND == "prefect":
        from prefect import flow, task
        def flush():
            return True
    else:
        from skiff import flow, task, flush

    sent = []
    for cls in (httpx.Client, httpx.AsyncClient):
        original = cls.send
        if cls is httpx.Client:
            def send(self, request, *a, _o=original, **k):
                sent.append(request.url.path)
                return _o(self, request, *a, **k)
        else:
            async def send(self, request, *a, _o=original, **k):
                sent.append(request.url.path)
                return await _o(self, request, *a, **k)
        cls.send = send

    def log(msg):
        print(f"[{KIND}] {msg}", file=sys.stderr, flush=True)

    tag = uuid.uuid4().hex[:6]

    @task
    def noop(i):
        return i

    @flow(name=f"bench-empty-{KIND}-{tag}")
    def empty():
        return 0

    @flow(name=f"bench-tasks-{KIND}-{tag}")
    def many(n):
        start = time.perf_counter()
        for i in range(n):
            noop(i)
        return time.perf_counter() - start

    def bare_loop(n):
        start = time.perf_counter()
        for i in range(n):
            noop.fn(i)
        return time.perf_counter() - start

    log("warm-up")
    n = 1000
    empty(); many(10); flush()
    log("warm empty flow, 15 runs")
    e2e = []
    requests = []
    for _ in range(15):
        before = len(sent)
        start = time.perf_counter()
        empty()
        flush()
        e2e.append(time.perf_counter() - start)
        requests.append(len(sent) - before)

    time.sleep(3)  # let the server's recorder drain the warm-up before timing visibility

    log("1000-task flow until the server shows every task run COMPLETED")
    api = httpx.Client(base_url=sys.argv[2], timeout=30)
    name = f"bench-visible-{KIND}-{tag}"
    visible_flow = flow(name=name)(many.fn)
    start = time.perf_counter()
    visible_flow(n)
    flush()
    run_filter = {"flows": {"name": {"any_": [name]}}}
    while True:
        done = api.post("/task_runs/count", json={**run_filter, "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}).json()
        if done >= n or time.perf_counter() - start > 180:
            break
        time.sleep(0.1)
    visible = time.perf_counter() - start

    log("per-task overhead: best of 5 x (1000 task calls - 1000 plain calls)")
    per_task = []
    for _ in range(5):
        per_task.append((many(n) - bare_loop(n)) / n)
        flush()

    print(json.dumps({
        "per_task_us": min(per_task) * 1e6,
        "e2e_ms": statistics.median(e2e) * 1e3,
        "requests": statistics.median(requests),
        "visible_s": visible,
        "visible_done": done,
    }))
    """
)


def _side(python: str, kind: str, api_url: str, env: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(SIDE)
    try:
        done = subprocess.run(
            [python, script.name, kind, api_url],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            timeout=900,
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise SystemExit(f"{kind} side failed with code {done.returncode}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _wait_recorder_idle(api_url: str) -> None:
    """Wait until the server stops recording task runs, so one side's backlog never slows the other."""
    import httpx

    print("waiting for the server's recorder to go idle ...", file=sys.stderr, flush=True)
    last, stable = -1, 0
    with httpx.Client(base_url=api_url, timeout=30) as client:
        while stable < 3:
            count = client.post("/task_runs/count", json={}).json()
            stable = stable + 1 if count == last else 0
            last = count
            time.sleep(1)


def main() -> None:
    """Start a server, run both sides, print the table."""
    handle = prefect_server.start()
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
        base.pop("VIRTUAL_ENV", None)
        with tempfile.TemporaryDirectory() as home:
            prefect_env = {
                **base,
                "PREFECT_API_URL": handle.api_url,
                "PREFECT_HOME": home,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            skiff_env = {**base, "PREFECT_API_URL": handle.api_url, "PYTHONPATH": str(ROOT)}
            print("running skiff side ...", file=sys.stderr, flush=True)
            ours = _side(sys.executable, "skiff", handle.api_url, skiff_env)
            _wait_recorder_idle(handle.api_url)
            print("running prefect side ...", file=sys.stderr, flush=True)
            theirs = _side(str(prefect_server.ensure_env()), "prefect", handle.api_url, prefect_env)
    finally:
        handle.stop()
    rows = [
        ("per-task overhead (us)", "per_task_us", "<= 30"),
        ("warm empty flow incl. flush (ms)", "e2e_ms", "<= 5"),
        ("HTTP requests per warm flow", "requests", "<= 3"),
        ("1000 tasks visible COMPLETED (s)", "visible_s", "<= prefect / 2"),
    ]
    print(f"\n{'metric':36} {'skiff':>10} {'prefect':>10} {'ratio':>8}  target")
    for label, key, target in rows:
        ratio = ours[key] / theirs[key] if theirs[key] else float("nan")
        print(f"{label:36} {ours[key]:10.2f} {theirs[key]:10.2f} {ratio:8.3f}  {target}")
    print(
        f"(task runs seen COMPLETED: skiff {ours['visible_done']:.0f}, prefect {theirs['visible_done']:.0f})"
    )


if __name__ == "__main__":
    main()
