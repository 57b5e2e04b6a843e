"""The ``skiff`` command: ``skiff worker start`` and ``skiff deploy`` (also ``python -m skiff``).

::

    skiff worker start --pool lambdas --type lambda
    skiff deploy app.py:handler --name nightly --pool lambdas \\
        --job-variable function_name=etl --cron "0 3 * * *"

Errors from skiff's tree print as one line (``skiff: <message>``) with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from skiff._exceptions import SkiffError, ValidationError

__all__ = ["main"]


def _pairs(option: str, values: Sequence[str]) -> dict[str, Any]:
    """``k=v`` pairs; ``v`` is read as JSON when it parses (numbers, objects), else a string."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{option} {item!r}: use KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def load_flow(entrypoint: str) -> Any:
    """The flow at ``path/to/file.py:name`` or ``package.module:name`` (or a wrapped handler's)."""
    target, sep, attr = entrypoint.rpartition(":")
    if not sep or not target or not attr:
        raise ValidationError(f"entrypoint {entrypoint!r}: use path/to/file.py:flow or module:flow")
    if target.endswith(".py"):
        if not os.path.exists(target):
            raise ValidationError(f"entrypoint {entrypoint!r}: no file {target!r}")
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(target))[0], target
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    obj = getattr(module, attr, None)
    flow = getattr(obj, "flow", obj)
    if flow is None or not hasattr(flow, "deploy"):
        raise ValidationError(f"entrypoint {entrypoint!r}: {attr!r} is not a skiff flow")
    return flow


def _worker_start(args: argparse.Namespace) -> int:
    from skiff.integrations.worker._loop import Worker

    worker = Worker(
        args.pool,
        args.type,
        api_url=args.api_url,
        name=args.name,
        work_queues=args.work_queue,
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
        start_timeout=args.start_timeout,
        heartbeat_timeout=args.heartbeat_timeout,
        use_events=not args.no_events,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    logging.getLogger("skiff.worker").info(
        "worker %s serving pool %r (%s)", worker.name, args.pool, args.type
    )
    asyncio.run(run())
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from skiff.integrations.worker._deploy import deploy

    flow = load_flow(args.entrypoint)
    deployment_id = deploy(
        flow,
        args.name,
        work_pool_name=args.pool,
        work_queue_name=args.work_queue,
        job_variables=_pairs("--job-variable", args.job_variable),
        parameters=_pairs("--param", args.param),
        cron=args.cron,
        interval=args.interval,
        tags=args.tag or None,
        api_url=args.api_url,
    )
    print(f"deployment {flow.name}/{args.name}: {deployment_id}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skiff",
        description="Serve a serverless work pool (worker start) or deploy a flow to one.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker for a serverless work pool")
    worker_commands = worker.add_subparsers(dest="worker_command", required=True)
    start = worker_commands.add_parser("start", help="serve a pool until interrupted")
    start.add_argument("--pool", required=True, help="work pool name (created if missing)")
    start.add_argument(
        "--type", required=True, choices=["lambda", "cloud-functions", "azure-functions"]
    )
    start.add_argument("--name", help="worker name (default: skiff-<type>-<random>)")
    start.add_argument("--work-queue", action="append", help="serve only this queue (repeat)")
    start.add_argument("--poll-interval", type=float, default=10.0, help="seconds (default 10)")
    start.add_argument("--heartbeat-interval", type=float, default=30.0, help="seconds")
    start.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="seconds a run may take to report RUNNING when the pool sets none",
    )
    start.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=90.0,
        help="seconds a running run may send no heartbeat (when the cloud cannot tell) "
        "when the pool sets none",
    )
    start.add_argument("--no-events", action="store_true", help="poll only, no events stream")
    start.add_argument("--api-url", help="default: PREFECT_API_URL")
    start.set_defaults(handler=_worker_start)
    dep = commands.add_parser("deploy", help="register a flow and its deployment in a pool")
    dep.add_argument("entrypoint", help="path/to/file.py:flow or module:flow")
    dep.add_argument("--name", required=True, help="deployment name")
    dep.add_argument("--pool", required=True, help="work pool name")
    dep.add_argument("--work-queue", help="work queue (default: the pool's default)")
    dep.add_argument("--job-variable", action="append", default=[], help="KEY=VALUE (repeat)")
    dep.add_argument("--param", action="append", default=[], help="KEY=VALUE default parameter")
    when = dep.add_mutually_exclusive_group()
    when.add_argument("--cron", help="cron schedule (UTC)")
    when.add_argument("--interval", type=float, help="interval schedule, in seconds")
    dep.add_argument("--tag", action="append", help="deployment tag (repeat)")
    dep.add_argument("--api-url", help="default: PREFECT_API_URL")
    dep.set_defaults(handler=_deploy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skiff`` command line; the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for chatty in ("httpx", "httpcore", "botocore", "urllib3"):  # a line per request
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        status: int = args.handler(args)
    except SkiffError as exc:
        print(f"skiff: {exc}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
