"""Reliability under load and faults: many concurrent Lambda invocations, counted on the server.

    .venv/bin/python benchmarks/bench_reliability.py [--invocations 1000] [--concurrency 20]
        [--fault-rate 0.2] [--databases sqlite postgres] [--timeout 15] [--json FILE]

The scenario of ``tests/faults/test_load.py``, bigger: a ``lambda_flow`` handler running
two ``@task``s and logging two lines, under the real ``awslambdaric`` in skiff's Lambda
emulator (freezing on), ``--concurrency`` sandboxes at once. For each database (a fresh
SQLite server, and one on a scratch PostgreSQL 15 cluster from ``scripts/postgres.py``) it
runs once healthy and once with ``--fault-rate`` of all API requests answered 503 by
``tests/faults/proxy.py``. Afterwards it counts from the server what reached it: results
returned to the caller, runs lost (invocations without a flow run), duplicated, left
non-final, task runs and logs missing, and the caller's p50/p95 wait.

There is no prefect-client side: Prefect has no Lambda adapter, so there is nothing of
theirs to run the same scenario with. The table is skiff's alone; the goals are absolute
(zero lost, zero duplicated, zero non-final, every result returned), and the exit status
is 1 when a case misses one. PostgreSQL runs with fsync off (a throwaway cluster).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repo's packages are importable
    sys.path.insert(0, str(ROOT))

from benchmarks._common import progress  # noqa: E402
from scripts import postgres, prefect_server  # noqa: E402
from tests.faults import test_load  # noqa: E402


@contextmanager
def server(database: str) -> Iterator[str]:
    """A fresh Prefect 3.9.1 server on ``database`` ("sqlite" or "postgres"); its API URL."""
    cluster = postgres.start() if database == "postgres" else None
    try:
        handle = prefect_server.start(database_url=cluster.url if cluster else None)
        try:
            yield handle.api_url
        finally:
            handle.stop()
    finally:
        if cluster is not None:
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """Run every case, print the table; exit status 1 if a case missed a goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=test_load.FAULT_RATE)
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgres"),
                        default=["sqlite", "postgres"])  # fmt: skip
    parser.add_argument("--timeout", type=float, default=test_load.FUNCTION_TIMEOUT,
                        help="the function timeout, seconds")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the fault proxy's random seed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows: list[test_load.Figures] = []
    with tempfile.TemporaryDirectory(prefix="skiff-bench-reliability-") as scratch:
        for database in args.databases:
            progress(f"starting a server on {database}")
            with server(database) as api_url:
                for rate in (0.0, args.fault_rate):
                    label = f"{database}-{f'503-{rate * 100:g}pct' if rate else 'healthy'}"
                    progress(
                        f"{label}: {args.invocations} invocations, {args.concurrency} concurrent"
                    )
                    began = time.monotonic()
                    row = test_load.run_case(
                        label,
                        api_url,
                        Path(scratch),
                        invocations=args.invocations,
                        concurrency=args.concurrency,
                        fault_rate=rate,
                        seed=args.seed,
                        timeout=args.timeout,
                    )
                    rows.append(row)
                    progress(f"{label}: done in {time.monotonic() - began:.0f} s")
    title = (
        f"{args.invocations} Lambda invocations, {args.concurrency} concurrent, "
        f"function timeout {args.timeout:g} s:"
    )
    print(test_load.table(rows, title), flush=True)
    missed = [row.label for row in rows if not row.ok]
    print(f"goals missed: {', '.join(missed)}" if missed else "goals met in every case")
    if args.json:
        data = [
            {**dataclasses.asdict(row), "states": dict(row.states), "ok": row.ok} for row in rows
        ]
        settings = {**vars(args), "json": str(args.json)}
        args.json.write_text(json.dumps({"args": settings, "rows": data}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
