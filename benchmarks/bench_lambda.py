"""Lambda cold start and warm-invocation overhead of skiff's adapter (a script, not a test).

    .venv/bin/python benchmarks/bench_lambda.py [--rounds 7] [--invocations 50] [--api-url URL]
                                                [--quick]

1. Cold import, median of fresh processes (rounds interleaved so drift hits all alike):
   ``import skiff`` + ``import skiff.adapters.aws_lambda`` beside ``import httpx, msgspec``
   and Prefect's ``from prefect import flow, task`` (in Prefect's own environment).
   Targets: at most 1.5x the time of ``import httpx, msgspec``, and at most 30 MB peak RSS.
2. The adapter's own per-call cost with reporting off (no network), in-process.
3. Warm invocations through the real runtime client (``awslambdaric`` in skiff's emulator,
   freezing on): the same handler bare and wrapped in ``lambda_flow`` (which creates the
   run and reports a task), with skiff's Lambda extension (reports drain after the
   response) and without it (``SKIFF_LAMBDA_EXTENSION=false``: flushed before returning):
   median response latency (the caller's wait) and billed duration (until the last
   ``next``).

Without ``--api-url`` a Prefect server is started for part 3 and stopped afterwards.
``--quick`` runs 3 rounds and 20 invocations. The suite's benchmark 6 (``b6_lambda.py``)
compares the same with prefect-client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from skiff.client._constants import SERVER_VERSION

ROOT = Path(__file__).resolve().parents[1]
PREFECT_PYTHON = ROOT / ".cache" / f"prefect-server-{SERVER_VERSION}" / "bin" / "python"

PROBE = """
import resource, time
t0 = time.perf_counter()
{stmt}
dt = time.perf_counter() - t0
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

# The bare handler has a module of its own: importing one that decorates a lambda_flow
# registers skiff's extension, which would then wait for a hand-off that never comes.
BARE_APP = textwrap.dedent(
    """
    def work(event):
        return {"n": sum(range(event.get("n", 100)))}


    def bare(event, context):
        return work(event)
    """
)
APP = textwrap.dedent(
    """
    from skiff import task
    from skiff.adapters.aws_lambda import lambda_flow

    from bench_bare import work


    @task
    def step(event):
        return work(event)


    @lambda_flow
    def wrapped(event, context):
        return step(event)
    """
)


def _env() -> dict[str, str]:
    # Without PYTHONDONTWRITEBYTECODE the warm-up leaves .pyc files, so rounds time imports,
    # not compilation; without PREFECT_/SKIFF_ settings nothing configures a server.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SKIFF_")) and k != "PYTHONDONTWRITEBYTECODE"
    }


def _probe(python: str, stmt: str) -> tuple[float, float]:
    out = subprocess.run(
        [python, "-c", PROBE.format(stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    ).stdout.split()
    return float(out[0]), float(out[1])


def cold_imports(rounds: int) -> list[str]:
    """Median import time and peak RSS per target, as printable lines."""
    targets = {
        "import httpx, msgspec": (sys.executable, "import httpx, msgspec"),
        "skiff + aws_lambda adapter": (
            sys.executable,
            "import skiff\nimport skiff.adapters.aws_lambda",
        ),
    }
    if PREFECT_PYTHON.exists():
        targets["from prefect import flow, task"] = (
            str(PREFECT_PYTHON),
            "from prefect import flow, task",
        )
    for python, stmt in targets.values():  # warm-up: compile .pyc outside the timings
        _probe(python, stmt)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (python, stmt) in targets.items():
            samples[name].append(_probe(python, stmt))
    medians = {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }
    base_time = medians["import httpx, msgspec"][0]
    lines = [f"Cold import (median of {rounds} fresh processes; RSS is the whole process):"]
    lines.append(f"  {'':34} {'time':>9} {'peak RSS':>9} {'vs httpx+msgspec':>17}")
    for name, (seconds, rss) in medians.items():
        lines.append(
            f"  {name:34} {seconds * 1000:7.1f}ms {rss:7.1f}MB {seconds / base_time:16.2f}x"
        )
    skiff_time, skiff_rss = medians["skiff + aws_lambda adapter"]
    lines.append(
        f"  targets: time <= 1.5x -> {skiff_time / base_time:.2f}x "
        f"[{'ok' if skiff_time <= 1.5 * base_time else 'MISSED'}]; "
        f"RSS <= 30 MB -> {skiff_rss:.1f} MB [{'ok' if skiff_rss <= 30 else 'MISSED'}]"
    )
    if "from prefect import flow, task" in medians:
        prefect_time, prefect_rss = medians["from prefect import flow, task"]
        lines.append(
            f"  prefect / skiff: {prefect_time / skiff_time:.1f}x the time, "
            f"{prefect_rss / skiff_rss:.1f}x the RSS"
        )
    return lines


# Function name -> (handler, extra environment), invoked in this order, round-robin.
FUNCTIONS = {
    "bare": ("bench_bare.bare", {}),
    "wrapped": ("bench_app.wrapped", {}),
    "wrapped_off": ("bench_app.wrapped", {"SKIFF_LAMBDA_EXTENSION": "false"}),
}
LABELS = {
    "bare": "bare handler",
    "wrapped": "lambda_flow + 1 task, extension",
    "wrapped_off": "lambda_flow + 1 task, flushed",
}


def warm_invocations(api_url: str, invocations: int) -> list[str]:
    """Median response latency and billed duration of warm invocations, bare and wrapped."""
    from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator

    with tempfile.TemporaryDirectory(prefix="skiff-bench-lambda-") as root:
        Path(root, "bench_bare.py").write_text(BARE_APP)
        Path(root, "bench_app.py").write_text(APP)
        functions = [
            FunctionConfig(name, handler, root, timeout=10, env={"PREFECT_API_URL": api_url, **env})
            for name, (handler, env) in FUNCTIONS.items()
        ]
        results: dict[str, list[Any]] = {name: [] for name in FUNCTIONS}
        cold: dict[str, float] = {}
        with LambdaEmulator(functions, freeze=True) as emulator:
            for name in FUNCTIONS:  # the cold start, not counted as warm
                cold[name] = emulator.invoke(name, {"n": 100}).response_duration
            for _ in range(invocations):
                for name, samples in results.items():
                    result = emulator.invoke(name, {"n": 100})
                    assert result.status == "success" and not result.phase_error, result
                    samples.append(result)

    def median_ms(name: str, field: str) -> float:
        values: list[float] = [getattr(r, field) for r in results[name]]
        return statistics.median(values) * 1000

    lines = [
        f"Warm invocations through awslambdaric + emulator (freezing on), median of {invocations}:",
        f"  {'':34} {'response':>9} {'billed':>9}",
    ]
    for name, label in LABELS.items():
        lines.append(
            f"  {label:34} {median_ms(name, 'response_duration'):7.2f}ms "
            f"{median_ms(name, 'duration'):7.2f}ms   (cold response {cold[name] * 1000:.0f}ms)"
        )
    bare = median_ms("bare", "response_duration")
    wrapped = median_ms("wrapped", "response_duration")
    lines.append(
        f"  the caller waits {wrapped - bare:.2f}ms more than for the bare handler with the "
        f"extension (the run's create, before the body), "
        f"{median_ms('wrapped_off', 'response_duration') - bare:.2f}ms without it"
    )
    return lines


OFFLINE = """
import os, statistics, time, uuid
os.environ["SKIFF_REPORTING"] = "false"
from skiff.adapters.aws_lambda import lambda_flow

class Context:
    function_name, function_version, memory_limit_in_mb = "bench", "$LATEST", "128"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
    def get_remaining_time_in_millis(self):
        return 30000

def bare(event, context):
    return {{"n": sum(range(event["n"]))}}

wrapped = lambda_flow(bare)
for handler in (bare, wrapped) * 50:
    handler({{"n": 100}}, Context())
for handler in (bare, wrapped):
    times = []
    for _ in range({calls}):
        context = Context()
        t0 = time.perf_counter()
        handler({{"n": 100}}, context)
        times.append(time.perf_counter() - t0)
    print(statistics.median(times) * 1e6)
"""


def adapter_cpu(calls: int) -> list[str]:
    """The adapter's own per-call cost with reporting off (no network), in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE.format(calls=calls)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    ).stdout.split()
    bare, wrapped = float(out[0]), float(out[1])
    return [
        f"Adapter machinery alone (SKIFF_REPORTING=false, in-process, median of {calls}):",
        f"  {'bare handler':34} {bare:7.1f}us",
        f"  {'lambda_flow':34} {wrapped:7.1f}us   (+{wrapped - bare:.1f}us per invocation)",
    ]


def main() -> int:
    """Run both parts and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--invocations", type=int, default=50)
    parser.add_argument("--api-url", default=os.environ.get("SKIFF_TEST_API_URL"))
    parser.add_argument("--quick", action="store_true", help="3 rounds, 20 invocations")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.invocations = 3, 20
    for line in cold_imports(args.rounds):
        print(line, flush=True)
    print()
    for line in adapter_cpu(2000):
        print(line, flush=True)
    print()
    sys.path.insert(0, str(ROOT))
    handle = None
    api_url = args.api_url
    if not api_url:
        from scripts import prefect_server

        handle = prefect_server.start()
        api_url = handle.api_url
    try:
        for line in warm_invocations(api_url, args.invocations):
            print(line, flush=True)
    finally:
        if handle is not None:
            handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
