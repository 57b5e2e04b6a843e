"""The ``skiff-lambda-emulator`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading

from .host import LambdaEmulator
from .invoke import InvocationResult
from .sandbox import FUNCTION_NAME, FunctionConfig

__all__ = ["main"]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="skiff-lambda-emulator",
        description=(
            "Run a Python Lambda handler locally under the real awslambdaric runtime client, "
            "with the Runtime and Extensions APIs, and serve the Lambda Invoke API for boto3 "
            "(endpoint_url)."
        ),
    )
    parser.add_argument("--handler", required=True, help="handler as module.function")
    parser.add_argument("--task-root", required=True, help="directory holding the handler code")
    parser.add_argument("--name", default="function", help="function name (default: function)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default: 3)")
    parser.add_argument("--memory", type=int, default=128, help="memory size in MB (default: 128)")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--port", type=int, default=0, help="Invoke API port (default: any free)")
    parser.add_argument(
        "--no-freeze", action="store_true", help="do not SIGSTOP the sandbox between invocations"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="function env var (repeatable)"
    )
    parser.add_argument(
        "--extension",
        action="append",
        default=[],
        metavar="PATH",
        help="external extension executable, as in /opt/extensions (repeatable)",
    )
    parser.add_argument("--log-dir", help="write runtime output to DIR/NAME.log, not stderr")
    parser.add_argument(
        "--invoke", metavar="JSON", help="invoke once with this event, print the result and exit"
    )
    args = parser.parse_args(argv)
    module, _, function = args.handler.rpartition(".")
    if not module or not function:
        parser.error(f"--handler must look like module.function, got {args.handler!r}")
    if not os.path.isdir(args.task_root):
        parser.error(f"--task-root {args.task_root!r} is not a directory")
    if not FUNCTION_NAME.fullmatch(args.name):
        parser.error(f"--name {args.name!r} must be 1-64 of [A-Za-z0-9_-]")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be within 0-65535")
    for path in args.extension:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            parser.error(f"--extension {path!r} is not an executable file")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env expects K=V, got {item!r}")
        env[key] = value
    args.env = env
    if args.invoke is not None:
        try:
            args.invoke = json.loads(args.invoke)
        except ValueError as exc:
            parser.error(f"--invoke is not valid JSON: {exc}")
    return args


def _report(result: InvocationResult) -> str:
    """Lambda's REPORT line, with the caller's wait beside the billed duration."""
    return (
        f"REPORT RequestId: {result.request_id}\t"
        f"Response: {result.response_duration * 1000:.2f} ms\t"
        f"Duration: {result.duration * 1000:.2f} ms\t"
        f"Billed Duration: {result.billed_ms} ms"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parse_args(argv)
    config = FunctionConfig(
        name=args.name,
        handler=args.handler,
        task_root=args.task_root,
        timeout=args.timeout,
        memory_size=args.memory,
        env=args.env,
        region=args.region,
        extensions=args.extension,
    )
    emulator = LambdaEmulator(
        [config],
        port=args.port,
        freeze=not args.no_freeze,
        log_dir=args.log_dir,
        capture_logs=args.log_dir is not None,
    )
    try:
        if args.invoke is not None:
            result = emulator.invoke(config.name, args.invoke)
            print(json.dumps(result.payload, indent=2))
            print(_report(result), file=sys.stderr)
            if result.status != "success":
                print(f"invocation {result.request_id}: {result.status}", file=sys.stderr)
                return 1
            return 0
        try:
            emulator.start()
        except OSError as exc:
            print(f"error: cannot listen on port {args.port}: {exc}", file=sys.stderr)
            return 1
        url = emulator.endpoint_url
        print(f"Lambda emulator: function {config.name!r} ({config.handler}) at {url}")
        print(
            "  boto3.client('lambda', endpoint_url="
            f"{url!r}, region_name={config.region!r},\n"
            "               aws_access_key_id='x', aws_secret_access_key='x')"
            f".invoke(FunctionName={config.name!r}, Payload=b'{{}}')"
        )
        print(f"  timings: GET {url}/_skiff/functions/{config.name}/invocations")
        print("Press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        return 0
    finally:
        emulator.stop()
