"""Invokes one handler through skiff's Lambda emulator and the real awslambdaric; used by b6.

    python lambda_invoke.py --emulator DIR --handler MODULE.handler --task-root DIR
                            --warm K [--env NAME=VALUE ...] [--post-floor] --out FILE

The emulator starts the runtime as ``sys.executable -m awslambdaric``, so this script runs
under the interpreter of the side being measured (prefect-client's environment has
awslambdaric too). The emulator package uses only the standard library; it is loaded from
its folder so that environment needs no skiff. The first invocation is cold (runtime start,
handler import, init); K warm ones follow, the sandbox frozen in between as Lambda does.

Each invocation goes through the Invoke API, as boto3 calls it, on one keep-alive
connection: ``wall`` is the caller's wait measured here. The emulator's timing record adds
``response`` (hand-off to the runtime until it posted the answer: the caller's wait without
the HTTP hop), ``billed`` (until the runtime and every extension called ``next``) and
``post_runtime`` (the runtime's ``next`` to the last extension's). The next invocation
starts only after the previous one's phase has ended, so no wait for a busy sandbox is
counted.

``--post-floor`` also times, just before each warm invocation, one bare ``POST /flow_runs/``
on a warm httpx connection to PREFECT_API_URL (a RUNNING flow run, as a Lambda adapter
creates it): the one request a reporting handler must wait for, measured against the
server in the same state as the invocation beside it. A 503 (SQLite under load) is
retried and not timed; the count is written as ``busy``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

POST_ATTEMPTS = 20


def _load(folder: str) -> ModuleType:
    name = "skiff_lambda_emulator"
    spec = importlib.util.spec_from_file_location(
        name, Path(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def _invoke(conn: http.client.HTTPConnection, request_id: str, event: Any) -> tuple[float, bytes]:
    """One synchronous Invoke API call: the caller's wall seconds and the response body."""
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "X-Skiff-Request-Id": request_id}
    start = time.perf_counter()
    conn.request("POST", "/2015-03-31/functions/bench/invocations", body, headers)
    reply = conn.getresponse()
    raw = reply.read()
    wall = time.perf_counter() - start
    if reply.status != 200 or reply.getheader("X-Amz-Function-Error"):
        raise RuntimeError(f"invocation {request_id}: HTTP {reply.status} {raw[:500]!r}")
    return wall, raw


def _post_floor(stack: contextlib.ExitStack) -> tuple[Callable[[], float], list[int]]:
    """A function timing one bare POST /flow_runs/ on a warm connection; the 503 counter."""
    import httpx  # only here: the measured side's environment need not be asked for it

    api = os.environ["PREFECT_API_URL"].rstrip("/")
    client = stack.enter_context(httpx.Client(base_url=api, timeout=30))
    flow_id = client.post("/flows/", json={"name": "bench-lambda-floor"}).json()["id"]
    busy = [0]

    def post() -> float:
        for _ in range(POST_ATTEMPTS):
            body = {
                "flow_id": flow_id,
                "name": f"floor-{uuid.uuid4().hex[:8]}",
                "state": {"type": "RUNNING", "name": "Running"},
            }
            start = time.perf_counter()
            reply = client.post("/flow_runs/", json=body)
            elapsed = time.perf_counter() - start
            if reply.status_code != 503:
                reply.raise_for_status()
                return elapsed
            busy[0] += 1
            time.sleep(0.05)
        raise RuntimeError(f"POST /flow_runs/ answered 503 {POST_ATTEMPTS} times")

    post()  # opens the connection; not counted
    return post, busy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulator", required=True, help="the emulator package's folder")
    parser.add_argument("--handler", required=True)
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--post-floor", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    emulator = _load(args.emulator)
    env = dict(item.split("=", 1) for item in args.env)
    config = emulator.FunctionConfig(
        "bench", args.handler, args.task_root, timeout=args.timeout, env=env
    )
    samples: list[dict[str, Any]] = []
    posts: list[float] = []
    with contextlib.ExitStack() as stack:
        post, busy = _post_floor(stack) if args.post_floor else (None, [0])
        emu = stack.enter_context(emulator.LambdaEmulator([config]))
        url = urlsplit(emu.endpoint_url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=args.timeout + 10)
        for index in range(1 + args.warm):
            request_id = str(uuid.uuid4())
            if post is not None and index > 0:
                posts.append(post())
            try:
                wall, _ = _invoke(conn, request_id, {"index": index})
                result: Any = emu.wait_invocation("bench", request_id, args.timeout + 10)
                if result is None or result.status != "success" or result.phase_error:
                    raise RuntimeError(f"invocation {index}: {result}")
                if result.cold_start != (index == 0):
                    raise RuntimeError(f"invocation {index}: cold_start={result.cold_start}")
            except Exception as exc:
                log = Path(emu.log_path("bench") or "/dev/null").read_text()[-3000:]
                raise SystemExit(f"{exc}\n{log}") from None
            samples.append(
                {
                    "wall": wall,
                    "response": result.response_duration,
                    "billed": result.duration,
                    "post_runtime": result.post_runtime_duration,
                }
            )
        conn.close()
        log_tail = Path(emu.log_path("bench") or "/dev/null").read_text()[-2000:]
    with open(args.out, "w") as out:
        json.dump(
            {
                "cold": samples[0],
                "warm": samples[1:],
                "posts": posts,
                "busy": busy[0],
                "log_tail": log_tail,
            },
            out,
        )


if __name__ == "__main__":
    main()
