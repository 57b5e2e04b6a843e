#!/usr/bin/env python3
"""Result records on moto S3: the cost per task of a persisted result and of a cache hit,
skiff beside prefect 3.9.1 (prefect-aws) in the same run, and the floor of one bare request.

    .venv/bin/python benchmarks/bench_results.py [--tasks N] [--api-url URL] [--moto-url URL]

It starts a real Prefect server (or uses ``--api-url``/``SKIFF_TEST_API_URL``) and moto's
server (or uses ``--moto-url``), creates a bucket and saves one ``S3Bucket`` block (Prefect
takes only a saved block as ``result_storage``). Each side then runs, in its own process:

- a warm-up flow and a plain flow of N tasks (no caching, no persistence);
- a flow of N tasks cached on their inputs (``INPUTS``) and persisting to the block: every
  task misses and writes its record (``persisted``);
- the same flow again: every task is a hit read from S3 (``cache hit``).

Each flow is timed around its call (both SDKs send their reports in the background; between
flows, untimed, skiff flushes and prefect gets 3 s, so no flow pays for another's). The
cost per task is the flow's time / N, and ``(flow - plain flow) / N`` what the record adds
(medians of ``--rounds`` flows per phase). The floor is one bare boto3 ``PutObject`` /
``GetObject`` of a record-sized body on the same moto, N of each made by each side's
process after each round, so the floor sees the same load as the flows. A miss costs both
SDKs a GET before the PUT, and a Prefect hit two GETs (``exists``, then ``read``) and a
block-document load per task. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402

# The side's script: argv = slug, N, salt, rounds, moto, bucket. Prints the seconds of each
# flow per phase, and of each bare request of the floors, made in the same rounds.
SIDE = r"""
import json, sys, time
import boto3
from {sdk} import flow, task
from {sdk}.cache_policies import INPUTS

slug, n, salt, rounds, moto, bucket = sys.argv[1:]
n, rounds = int(n), int(rounds)
s3 = boto3.client(
    "s3", endpoint_url=moto, aws_access_key_id="testing", aws_secret_access_key="testing",
    region_name="us-east-1",
)
body = b'{{"metadata":{{"storage_key":"bench/0123456789abcdef0123456789abcdef"}},"result":"{{}}"}}'
body += b" " * 300

@task
def plain(i: int, salt: str) -> dict:
    return {{"i": i, "salt": salt}}

@task(cache_policy=INPUTS, result_storage=slug, persist_result=True)
def cached(i: int, salt: str) -> dict:
    return {{"i": i, "salt": salt}}

@flow
def many(kind: str, salt: str) -> int:
    fn = plain if kind == "plain" else cached
    return len([fn(i, salt) for i in range(n)])

def timed(kind: str, salt: str) -> float:
    t = time.perf_counter()
    assert many(kind, salt) == n
    took = time.perf_counter() - t
    settle()  # the flow's reports are sent before the next one starts (untimed)
    return took

def settle() -> None:
    if "{sdk}" == "skiff":
        from skiff import flush
        assert flush(60)
    else:
        time.sleep(3)  # prefect's events go out in the background within this

def bare(request, key: str) -> float:
    t = time.perf_counter()
    request(key)
    return time.perf_counter() - t

put = lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body)
get = lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
timed("plain", "warm-up")
out = {{"plain": [], "persisted": [], "hit": [], "put": [], "get": []}}
for round in range(rounds):
    out["plain"].append(timed("plain", salt))
    out["persisted"].append(timed("cached", f"{{salt}}-{{round}}"))
    out["hit"].append(timed("cached", f"{{salt}}-{{round}}"))
    out["put"] += [bare(put, f"floor/{{salt}}/{{round}}/{{i}}") for i in range(n)]
    out["get"] += [bare(get, f"floor/{{salt}}/{{round}}/{{i}}") for i in range(n)]
print(json.dumps(out))
"""


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench_results] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server on a free loopback port, once it accepts connections."""
    port = _free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto's server did not start")


def _env(api_url: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_", "AWS_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_side(
    python: str, sdk: str, slug: str, n: int, rounds: int, s3: tuple[str, str], env: dict[str, str]
) -> dict[str, list[float]]:
    """One side's flow times per phase and its floors' request times, in seconds."""
    salt = uuid.uuid4().hex
    done = subprocess.run(
        [python, "-c", SIDE.format(sdk=sdk), slug, str(n), salt, str(rounds), *s3],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{sdk} side failed:\n{done.stderr[-3000:]}")
    timings: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return timings


def _s3(moto: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def save_block(api_url: str, moto: str, bucket: str) -> str:
    """The slug of a saved S3Bucket block on moto (both SDKs load it)."""
    os.environ["PREFECT_API_URL"] = api_url
    from skiff.blocks import AwsClientParameters, AwsCredentials
    from skiff.integrations.aws import S3Bucket

    block = S3Bucket(
        bucket_name=bucket,
        bucket_folder="bench",
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=moto),
        ),
    )
    name = f"bench-results-{uuid.uuid4().hex[:8]}"
    block.save(name)
    return f"s3-bucket/{name}"


def main() -> None:
    """Run both sides and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="flows per phase (medians)")
    parser.add_argument("--api-url", default=os.environ.get("SKIFF_TEST_API_URL"))
    parser.add_argument("--moto-url")
    args = parser.parse_args()
    n = args.tasks
    server = None
    moto_process = None
    try:
        api_url = args.api_url
        if not api_url:
            log("starting a Prefect server")
            server = prefect_server.start()
            api_url = server.api_url
        moto = args.moto_url
        if not moto:
            moto_process, moto = start_moto()
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        _s3(moto).create_bucket(Bucket=bucket)
        slug = save_block(api_url, moto, bucket)
        home = tempfile.mkdtemp(prefix="bench-results-home-")
        env = _env(api_url, home)
        prefect_python = str(prefect_server.ensure_env())
        log(f"skiff side: {n} tasks per flow")
        skiff_runs = run_side(sys.executable, "skiff", slug, n, args.rounds, (moto, bucket), env)
        log(f"prefect side: {n} tasks per flow")
        prefect_runs = run_side(
            prefect_python, "prefect", slug, n, args.rounds, (moto, bucket), env
        )
    finally:
        if moto_process is not None:
            moto_process.terminate()
            moto_process.wait(10)
        if server is not None:
            server.stop()

    ours = {k: statistics.median(v) for k, v in skiff_runs.items()}
    theirs = {k: statistics.median(v) for k, v in prefect_runs.items()}
    floor = {k: statistics.median(skiff_runs[k] + prefect_runs[k]) for k in ("put", "get")}
    print(
        f"result records on moto S3: {n} tasks per flow, median of {args.rounds} flows per "
        "phase; ms per task"
    )
    print(f"{'':<24}{'skiff':>10}{'prefect':>10}{'ratio':>8}{'floor':>10}")
    rows = (
        ("plain task", "plain", None),
        ("persisted task", "persisted", None),
        ("cache-hit task", "hit", None),
        ("persisting (- plain)", "persisted", "put"),
        ("cache hit (- plain)", "hit", "get"),
    )
    for label, key, floor_key in rows:
        base = "plain" if floor_key else None
        mine = (ours[key] - (ours[base] if base else 0)) / n * 1000
        other = (theirs[key] - (theirs[base] if base else 0)) / n * 1000
        ratio = f"{mine / other:>8.2f}" if other > 0 else f"{'-':>8}"
        bare = f"{floor[floor_key] * 1000:>10.2f}" if floor_key else ""
        print(f"{label:<24}{mine:>10.2f}{other:>10.2f}{ratio}{bare}")
    print(
        "floor: one bare boto3 PutObject (persisting) / GetObject (cache hit), median of "
        f"{2 * n * args.rounds} made by both sides' processes between their flows"
    )


if __name__ == "__main__":
    main()
