"""Runs the whole benchmark suite: skiff against prefect-client 3.9.0 on a real Prefect server.

    bash scripts/bench [--rounds N] [--only b1 b4 ...]

Prepares prefect-client's environment and a plotting environment under .cache/, starts a Prefect
3.9.1 server on 127.0.0.1 with a fresh database, runs every benchmark (skiff, prefect-client
and the physical floor in turn, round after round) and writes benchmarks/results/latest.json,
latest.md and latest.png. Progress goes to stderr; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks._common import ROOT, Context, Unavailable, probe, progress
from scripts import prefect_server

BENCHMARKS = [
    "b1_import",
    "b2_install",
    "b3_zero_task",
    "b4_tasks",
    "b5_process",
    "b6_lambda",
    "b7_serialization",
    "b8_runtime_v2",
]
RESULTS = ROOT / "benchmarks" / "results"
PREFECT_CLIENT_ENV = prefect_server.CACHE / "prefect-client-3.9.0"
PLOT_ENV = prefect_server.CACHE / "bench-plot"


def _prefect_client_packages() -> list[str]:
    # awslambdaric is there for the Lambda benchmark, pinned to skiff's so both sides match.
    return ["prefect-client==3.9.0", f"awslambdaric=={importlib.metadata.version('awslambdaric')}"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "no git"
    return (
        f"{commit}, uncommitted changes" if git("status", "--porcelain", "--", "skiff") else commit
    )


def _meta(prefect_python: str, rounds: int) -> dict[str, Any]:
    version = importlib.metadata.version
    prefect_client = subprocess.run(
        [
            prefect_python,
            "-c",
            "import importlib.metadata as m; print(m.version('prefect-client'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "skiff": version("skiff"),
        "commit": _commit(),
        "prefect_client": prefect_client,
        "prefect_server": prefect_server.PREFECT_VERSION,
        "httpx": version("httpx"),
        "msgspec": version("msgspec"),
        "rounds": rounds,
    }


def _run_one(name: str, ctx: Context) -> dict[str, Any]:
    module = importlib.import_module(f"benchmarks.{name}")
    number = name[1 : name.index("_")]
    entry: dict[str, Any] = {"id": number, "title": module.TITLE, "metrics": []}
    progress(f"== {number}. {module.TITLE}")
    started = time.monotonic()
    try:
        entry["metrics"] = [metric.to_json() for metric in module.run(ctx)]
        entry["status"] = "ok"
    except Unavailable as exc:
        entry["status"] = f"not available: {exc}"
    except Exception as exc:
        # One broken benchmark must not cost the others' results.
        traceback.print_exc()
        entry["status"] = f"failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    entry["seconds"] = time.monotonic() - started
    progress(f"== {number}. {module.TITLE}: {entry['status']} in {entry['seconds']:.0f} s")
    return entry


def _plot(results_json: Path, png: Path) -> None:
    python = prefect_server.ensure_env(PLOT_ENV, ["matplotlib"])
    subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "plot.py"), str(results_json), str(png)],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per benchmark (default 5)")
    parser.add_argument(
        "--only", nargs="+", metavar="bN", help="run only these benchmarks, e.g. --only b1 b7"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    selected = [b for b in BENCHMARKS if not args.only or b.split("_")[0] in args.only]
    if not selected:
        parser.error(f"--only matches none of {', '.join(BENCHMARKS)}")

    suite_start = time.monotonic()
    progress("preparing prefect-client 3.9.0's environment")
    prefect_python = str(prefect_server.ensure_env(PREFECT_CLIENT_ENV, _prefect_client_packages()))
    scratch = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    server_home = scratch / "server"
    server_home.mkdir()
    progress("starting the Prefect server")
    try:
        server = prefect_server.start(home=str(server_home))
    except Exception as exc:
        progress(f"the Prefect server failed to start ({exc}); see {server_home / 'server.log'}")
        return 1
    progress(f"server at {server.api_url}, log {server.log_file}")
    try:
        ctx = Context(
            rounds=args.rounds,
            skiff_python=sys.executable,
            prefect_python=prefect_python,
            api_url=server.api_url,
            scratch=scratch,
            server_pid=server.pid,
        )
        ctx.skiff_runtime_missing = probe(sys.executable, "from skiff import flow, task, flush")
        ctx.skiff_lambda_missing = probe(
            sys.executable, "from skiff.adapters.aws_lambda import lambda_flow"
        )
        for reason, what in [
            (ctx.skiff_runtime_missing, "skiff's runtime"),
            (ctx.skiff_lambda_missing, "skiff's Lambda adapter"),
        ]:
            if reason:
                progress(f"{what} is not importable, its side is skipped: {reason}")
        meta = _meta(prefect_python, args.rounds)
        benchmarks = [_run_one(name, ctx) for name in selected]
    finally:
        server.stop()
    meta["elapsed_s"] = time.monotonic() - suite_start
    results = {"meta": meta, "benchmarks": benchmarks}

    args.out.mkdir(parents=True, exist_ok=True)
    results_json = args.out / "latest.json"
    results_json.write_text(json.dumps(results, indent=1))
    table = report.render(results)
    (args.out / "latest.md").write_text(table)
    progress("plotting")
    _plot(results_json, args.out / "latest.png")
    shutil.rmtree(scratch, ignore_errors=True)
    print(table)
    progress(f"wrote {args.out}/latest.json, latest.md and latest.png")
    return 2 if any(b["status"].startswith("failed") for b in benchmarks) else 0


if __name__ == "__main__":
    sys.exit(main())
