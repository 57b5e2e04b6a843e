"""What every benchmark module shares: the result format, the run context and subprocess helpers.

A benchmark module exposes ``TITLE`` and ``run(ctx) -> list[Metric]``. Each metric holds the raw
samples of three sides measured in the same run: ``skiff``, ``prefect`` (prefect-client in its
own environment) and ``floor`` (the physical floor: the least any SDK could do for the same
work). A side that cannot run yet is recorded in ``Metric.missing`` with the reason; a whole
benchmark that cannot run raises :class:`Unavailable`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from benchmarks.bench_import import clean_env

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "benchmarks" / "drivers"
SIDES = ("skiff", "prefect", "floor")


class Unavailable(Exception):
    """A benchmark or one side of it cannot run (yet); the message says why."""


@dataclass
class Metric:
    """One measured quantity; lower is better for every metric in the suite."""

    name: str
    unit: str
    floor_label: str
    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    missing: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def add(self, side: str, value: float) -> None:
        self.samples[side].append(value)

    def summary(self, side: str) -> dict[str, float] | None:
        values = self.samples[side]
        if not values:
            return None
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    def ratio(self) -> float | None:
        """skiff median / prefect median."""
        skiff, prefect = self.summary("skiff"), self.summary("prefect")
        if not skiff or not prefect or prefect["median"] == 0:
            return None
        return skiff["median"] / prefect["median"]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "floor_label": self.floor_label,
            "note": self.note,
            "samples": self.samples,
            "missing": self.missing,
            "summary": {side: self.summary(side) for side in SIDES},
            "ratio": self.ratio(),
        }


def progress(message: str) -> None:
    """Progress on stderr, timestamped."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Context:
    """What a benchmark needs: interpreters, the server, the number of rounds, scratch space."""

    rounds: int
    skiff_python: str
    prefect_python: str
    api_url: str
    # Scratch space; measured processes run here, so no project file (pyproject.toml, .env)
    # in the working directory changes what they do.
    scratch: Path
    # Availability of skiff's pieces still being written: None, or why it cannot be imported.
    skiff_runtime_missing: str | None = None
    skiff_lambda_missing: str | None = None
    # Numbers one benchmark hands to a later one (the zero-task flow's request count).
    facts: dict[str, float] = field(default_factory=dict)
    # The server's process (group) id, for benchmarks that wait until it is idle.
    server_pid: int | None = None

    def python(self, side: str) -> str:
        """The interpreter of a side; the floor uses skiff's, which has bare httpx and msgspec."""
        return self.prefect_python if side == "prefect" else self.skiff_python

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for measured processes: pointed at the server, with a scratch PREFECT_HOME."""
        env = {k: v for k, v in clean_env().items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.scratch / "prefect-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        env.update(extra)
        return env

    def alternate(self, label: str, steps: dict[str, Callable[[int], None]]) -> None:
        """Run ``steps`` side after side (A B A B ...) for every round, with progress lines."""
        for rnd in range(self.rounds):
            for side, step in steps.items():
                progress(f"{label}: round {rnd + 1}/{self.rounds}, {side}")
                step(rnd)


def probe(python: str, code: str, env: dict[str, str] | None = None) -> str | None:
    """None when ``code`` runs under ``python``, else the last line of its error output."""
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    if out.returncode == 0:
        return None
    lines = out.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {out.returncode}"


@dataclass
class Driver:
    """A driver process running in the background."""

    proc: subprocess.Popen[bytes]
    out_path: Path  # the JSON it writes
    log_path: Path  # its stdout and stderr

    def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for it; raise with the tail of its output if it failed."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.describe()} took over {timeout:.0f} s") from None
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.describe()} exited with {self.proc.returncode}")
        result: dict[str, Any] = json.loads(self.out_path.read_text())
        return result

    def describe(self) -> str:
        tail = self.log_path.read_text(errors="replace")[-3000:]
        return f"{' '.join(map(str, self.proc.args))} (log {self.log_path}):\n{tail}"


def start_driver(
    python: str, driver: str, args: Sequence[str], env: dict[str, str], cwd: Path
) -> Driver:
    """Start ``benchmarks/drivers/<driver>.py`` under ``python`` in the background.

    Its output goes to a file, not a pipe: prefect logs a line per task run, and a full pipe
    nobody reads would block it.
    """
    stem = cwd / f"{driver}-{uuid.uuid4().hex[:8]}"
    out_path, log_path = stem.with_suffix(".json"), stem.with_suffix(".log")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [python, str(DRIVERS / f"{driver}.py"), *args, "--out", str(out_path)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Driver(proc, out_path, log_path)


def run_driver(
    python: str,
    driver: str,
    args: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run a driver to completion and return the JSON it wrote."""
    return start_driver(python, driver, args, env, cwd).finish(timeout)


def timed_process(
    python: str, code: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> float:
    """Wall seconds of ``python -c code`` from spawn to exit; raise if it fails."""
    start = time.perf_counter()
    out = subprocess.run(
        [python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"python -c failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return elapsed


def _transient(exc: BaseException) -> bool:
    # Under sustained writes a SQLite-backed server now and then answers 503 or drops a
    # keep-alive connection; every real client (prefect-client, skiff) retries both.
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in (429, 503)
    return isinstance(exc, httpx.TransportError)


@retry(
    retry=retry_if_exception(_transient),
    wait=wait_exponential(multiplier=0.2, max=3),
    stop=stop_after_attempt(8),
    reraise=True,
)
def api_post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST outside the measurements (setup, polling), retried on the server's transient errors."""
    return client.post(path, json=body).raise_for_status()
