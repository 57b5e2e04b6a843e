"""Runtime v2 targets: skiff beside Prefect 3.9.1 on a fresh local Prefect server.

    .venv/bin/python benchmarks/bench_runtime_v2.py [--rounds 2] [--port 4331] [--json FILE]
    .venv/bin/python benchmarks/bench_runtime_v2.py --quick      # smoke test, about 1.5 minutes
    .venv/bin/python benchmarks/bench_runtime_v2.py --profile    # where skiff's time per task goes

Sides, each a process of its own per round, in turn (so drift hits them alike): ``skiff``
(Prefect-identical records: a Pending, Running and final event per task), ``lean``
(skiff with ``SKIFF_LEAN_TASK_EVENTS=true``), ``prefect`` (prefect 3.9.1, in the server's
environment), and the physical floors ``floor`` / ``floor-lean``, bare httpx on a warm
connection making the same records with 3 / 1 events per task (their task flows in the
first round only: they measure the server alone). ``drivers/runtime_v2.py`` is what each
side runs. Three measurements, the issue's targets:

1. per-task overhead of a sync task in a flow: (flow call with N empty tasks - warm
   zero-task flow call) / N at 200 and 1000 tasks, target <= 30 us. Beside it: the same
   without the caller's waits in HTTP requests (the create's round trip varies by
   +-10 ms on SQLite, which is 50 us per task at N=200), the in-body loop / N and the
   caller thread's CPU / N. Floor: building and encoding each task's events.
2. a warm zero-task flow until its final state is on the server (skiff: the call and
   ``flush()``; Prefect's call returns once its final state is set), and its HTTP requests,
   against the floor's requests for the same record; target <= 1.5x the floor.
3. from the flow's start until ``POST /task_runs/count`` shows all 1000 task runs COMPLETED.

A round makes the server record about 8,400 events (at roughly 50-140 per second on
SQLite, depending on the machine), which bounds 3 and the run time: 2 rounds take about
8 minutes on 2 cores. ``b8_runtime_v2.py`` runs the same measurements in the suite
(``bash scripts/bench --only b8``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "benchmarks" / "drivers" / "runtime_v2.py"
PROFILE_DRIVER = ROOT / "benchmarks" / "drivers" / "runtime_v2_profile.py"
SIDES = ("skiff", "lean", "prefect", "floor", "floor-lean")
FLOORS = ("floor", "floor-lean")
TARGET_PER_TASK_US = 30.0
TARGET_FLOOR_RATIO = 1.5


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench-v2 {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def side_env(side: str, api_url: str, home: Path) -> dict[str, str]:
    """A side's environment: pointed at the server, nothing of ours (PREFECT_*, SKIFF_*)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SKIFF_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(
        PREFECT_API_URL=api_url, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    return env | lean_env(side)


def lean_env(side: str) -> dict[str, str]:
    """What makes the ``lean`` side lean."""
    return {"SKIFF_LEAN_TASK_EVENTS": "true"} if side == "lean" else {}


def run_side(
    python: str,
    side: str,
    sizes: list[int],
    zero_runs: int,
    pgid: int,
    env: dict[str, str],
    scratch: Path,
) -> dict[str, Any]:
    """Run one side's round in its own process; the samples it wrote."""
    stem = scratch / f"{side}-{uuid.uuid4().hex[:6]}"
    command = [python, str(DRIVER), "--side", side, "--server-pgid", str(pgid)]
    command += ["--sizes", *map(str, sizes), "--zero-runs", str(zero_runs)]
    command += ["--out", f"{stem}.json"]
    # A file, not a pipe: Prefect prints a line per task run, and a full pipe would block it.
    with open(f"{stem}.log", "wb") as out:
        code = subprocess.run(
            command,
            env=env,
            cwd=scratch,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=900,
        ).returncode
    if code != 0:
        tail = Path(f"{stem}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the {side} side exited with {code}:\n{tail}")
    result: dict[str, Any] = json.loads(Path(f"{stem}.json").read_text())
    return result


def measure(
    pythons: dict[str, str],
    env_for: Callable[[str], dict[str, str]],
    *,
    rounds: int,
    sizes: list[int],
    zero_runs: int,
    pgid: int,
    scratch: Path,
    sides: tuple[str, ...] = SIDES,
) -> list[dict[str, dict[str, Any]]]:
    """Every round of every side; the floors' task flows in the first round only.

    Those only measure the server's recorder, and cost it as much as skiff's; the floor's
    zero-task flows are cheap and run every round, beside skiff's.
    """
    results: list[dict[str, dict[str, Any]]] = []
    for rnd in range(rounds):
        results.append({})
        for side in sides:
            if side == "floor-lean" and rnd > 0:
                continue
            log(f"round {rnd + 1}/{rounds}: {side}")
            zero = 0 if side == "floor-lean" else zero_runs  # the same zero-task flow as floor
            counts = [] if side in FLOORS and rnd > 0 else sizes
            result = run_side(pythons[side], side, counts, zero, pgid, env_for(side), scratch)
            results[-1][side] = result
            for flow in result["tasks"]:
                log(f"  {side}: {flow['n']} tasks all COMPLETED after {flow['visible']} s")
    return results


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(rounds: list[dict[str, dict[str, Any]]], sizes: list[int]) -> dict[str, Any]:
    """Per side: the medians over rounds of every metric (per-round values kept too)."""
    out: dict[str, Any] = {}
    for side in SIDES:
        samples: dict[str, list[float]] = {}

        def add(key: str, value: float | None, samples: dict[str, list[float]] = samples) -> None:
            if value is not None:
                samples.setdefault(key, []).append(value)

        for rnd in rounds:
            result = rnd.get(side)
            if result is None:
                continue
            zero = result["zero"]
            base_call = _med([z["call"] for z in zero])
            base_cpu = _med([z["cpu"] for z in zero])
            base_own = _med([z["call"] - z["waited"] for z in zero])
            for z in zero:
                add("zero_e2e_ms", z["e2e"] * 1e3)
                add("zero_requests", len(z["requests"]))
            for t in result["tasks"]:
                n = t["n"]
                if side.startswith("floor"):
                    add(f"per_task_us_{n}", t["loop"] / n * 1e6)
                    add(f"own_us_{n}", t["loop"] / n * 1e6)
                elif base_call is not None and base_cpu is not None and base_own is not None:
                    add(f"per_task_us_{n}", (t["call"] - base_call) / n * 1e6)
                    own = t["call"] - t["waited"]
                    add(f"own_us_{n}", (own - base_own) / n * 1e6)
                    add(f"cpu_us_{n}", (t["cpu"] - base_cpu) / n * 1e6)
                add(f"loop_us_{n}", t["loop"] / n * 1e6)
                add(f"visible_s_{n}", t["visible"])
        out[side] = {
            "samples": samples,
            "median": {k: statistics.median(v) for k, v in samples.items()},
            "requests": rounds[0][side]["zero"][0]["requests"]
            if rounds[0].get(side, {}).get("zero")
            else [],
        }
    return out


def _cell(summary: dict[str, Any], side: str, key: str, digits: int) -> str:
    values = summary[side]["samples"].get(key)
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _ratio(summary: dict[str, Any], top: str, bottom: str, key: str) -> str:
    a, b = summary[top]["median"].get(key), summary[bottom]["median"].get(key)
    # A difference of noisy flow times can come out negative: no ratio then.
    return f"{a / b:.2f}x" if a is not None and b is not None and a > 0 and b > 0 else "-"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [
        title,
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
    ]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines)


def _paths(requests: list[str]) -> str:
    """``POST /api/flow_runs/<uuid>/set_state`` -> ``POST flow_runs/{id}/set_state``."""
    out = []
    for request in requests:
        method, path = request.split(" ", 1)
        parts = ["{id}" if len(p) == 36 and p.count("-") == 4 else p for p in path.split("/")]
        out.append(f"{method} {'/'.join(parts).removeprefix('/api')}")
    return ", ".join(out)


def _meta() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "no git"
    dirty = ", uncommitted changes in skiff/" if git("status", "--porcelain", "--", "skiff") else ""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + dirty,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "load": os.getloadavg()[0],
    }


def render(summary: dict[str, Any], sizes: list[int], meta: dict[str, Any]) -> str:
    """The three tables: medians over rounds, with min-max over the samples."""
    big = max(sizes)
    header = (
        f"skiff {meta['commit']} vs prefect 3.9.1, Prefect 3.9.1 server on SQLite; "
        f"{meta['date']}, {meta['cores']} cores, Python {meta['python']}, load average "
        f"{meta['load']:.1f} at the start and {meta['load_end']:.1f} at the end; "
        f"{meta['rounds']} round(s), {meta['seconds']:.0f} s"
    )
    cols = ["metric", "skiff", "skiff lean", "prefect 3.9.1", "floor", "floor lean"]
    cols += ["skiff/prefect", "lean/prefect", "target"]
    rows = []
    keys = [(f"per_task_us_{n}", f"{n} tasks: (flow(N) - flow(0)) / N, us") for n in sizes]
    keys += [(f"own_us_{n}", f"{n} tasks: the same, caller's waits excluded, us") for n in sizes]
    keys += [(f"loop_us_{n}", f"{n} tasks: in-body loop / N, us") for n in sizes]
    keys += [(f"cpu_us_{big}", f"{big} tasks: caller thread CPU / N, us")]
    for key, label in keys:
        target = f"skiff <= {TARGET_PER_TASK_US:.0f} us" if key.startswith(("per", "own")) else ""
        rows.append(
            [label]
            + [_cell(summary, s, key, 1) for s in SIDES]
            + [_ratio(summary, "skiff", "prefect", key), _ratio(summary, "lean", "prefect", key)]
            + [target]
        )
    part1 = _table(
        "1. Per-task overhead of a sync task called in a flow"
        "\n   flow(N): the flow call with N empty tasks; flow(0): the median warm zero-task call."
        "\n   'caller's waits excluded': minus the time the calling thread spent in HTTP requests"
        " (the create's round trip, which varies by +-10 ms on SQLite)."
        "\n   prefect's flow call ends with a heartbeat-thread join of up to 1 s, so its"
        " difference is noise: compare its in-body loop."
        "\n   floor: building and encoding each task's 3 (lean: 1) state events.",
        cols,
        rows,
    )
    zero = ("skiff", "prefect", "floor")
    zrows = [
        ["warm zero-task flow, until final state on server, ms"]
        + [_cell(summary, s, "zero_e2e_ms", 1) for s in zero]
        + [_ratio(summary, "skiff", "floor", "zero_e2e_ms")]
        + [_ratio(summary, "skiff", "prefect", "zero_e2e_ms"), f"<= {TARGET_FLOOR_RATIO}x floor"],
        ["HTTP requests per flow"]
        + [_cell(summary, s, "zero_requests", 0) for s in zero]
        + [_ratio(summary, "skiff", "floor", "zero_requests"), "", ""],
    ]
    part2 = _table(
        "2. Warm zero-task flow until its final state is on the server"
        "\n   skiff: the call + flush(); prefect: the call (it returns once the final state is"
        " set; its events go over a websocket and are not counted as HTTP requests)."
        f"\n   skiff sends: {_paths(summary['skiff']['requests'])}"
        f"\n   floor sends: {_paths(summary['floor']['requests'])}",
        ["metric", "skiff", "prefect 3.9.1", "floor", "skiff/floor", "skiff/prefect", "target"],
        zrows,
    )
    key = f"visible_s_{big}"
    vrows = [
        [f"{big} tasks: until all COMPLETED on server, s"]
        + [_cell(summary, s, key, 2) for s in SIDES]
        + [_ratio(summary, "skiff", "prefect", key), _ratio(summary, "lean", "prefect", key)]
        + [_ratio(summary, "skiff", "floor", key), _ratio(summary, "lean", "floor-lean", key)]
    ]
    part3 = _table(
        "3. From the flow's start until POST /task_runs/count shows every task run COMPLETED"
        "\n   floor: the same events posted directly, 500 per request, 3 (lean: 1) per task.",
        [*cols[:-1], "skiff/floor", "lean/floor lean"],
        vrows,
    )
    return "\n\n".join((header, part1, part2, part3))


def main(argv: list[str] | None = None) -> int:
    """Start a server, run the rounds (or the profile), print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 20 and 100 tasks, 1 round"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 2, quick 1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="task counts (200 1000)")
    parser.add_argument("--zero-runs", type=int, default=None, help="zero-task flows a round (7)")
    parser.add_argument("--port", type=int, default=4331, help="the server's port (4331)")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--json", type=Path, default=None, help="also write the raw samples here")
    parser.add_argument("--profile", action="store_true", help="profile skiff's cost per task")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 2)
    sizes = args.sizes or ([20, 100] if args.quick else [200, 1000])
    zero_runs = args.zero_runs if args.zero_runs is not None else (3 if args.quick else 7)

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from scripts import prefect_server

    started, meta = time.monotonic(), _meta()
    scratch = Path(tempfile.mkdtemp(prefix="skiff-bench-v2-"))
    for folder in ("home", "server"):
        (scratch / folder).mkdir()
    log(f"starting a Prefect {prefect_server.PREFECT_VERSION} server on port {args.port}")
    server = prefect_server.start(port=args.port, home=str(scratch / "server"))
    try:
        if args.profile:
            env = side_env("skiff", server.api_url, scratch / "home")
            env["SKIFF_FLUSH_INTERVAL"] = "3600"
            tasks = "20" if args.quick else "200"
            command = [sys.executable, str(PROFILE_DRIVER), "--tasks", tasks, "--flows", "5"]
            command += ["--server-pgid", str(server.pid)]
            return subprocess.run(command, env=env, cwd=scratch, timeout=900).returncode
        pythons = {s: sys.executable for s in SIDES} | {"prefect": str(prefect_server.ensure_env())}
        results = measure(
            pythons,
            lambda side: side_env(side, server.api_url, scratch / "home"),
            rounds=rounds,
            sizes=sizes,
            zero_runs=zero_runs,
            pgid=server.pid,
            scratch=scratch,
            sides=tuple(args.sides),
        )
    finally:
        server.stop()
    meta.update(rounds=rounds, seconds=time.monotonic() - started, load_end=os.getloadavg()[0])
    if _meta()["commit"] != meta["commit"]:
        meta["commit"] += f" (changed during the run, to {_meta()['commit']})"
    summary = summarize(results, sizes)
    print(render(summary, sizes, meta))
    print("\nrerun: .venv/bin/python benchmarks/bench_runtime_v2.py [--quick] [--rounds N]")
    if args.json:
        data = {"meta": meta, "rounds": results, "summary": summary}
        args.json.write_text(json.dumps(data, indent=1))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
