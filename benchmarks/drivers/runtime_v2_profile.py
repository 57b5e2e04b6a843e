"""Where skiff's time per task goes; started by ``bench_runtime_v2.py --profile``.

    python runtime_v2_profile.py --tasks 200 --flows 5 --server-pgid PID

Runs under skiff's interpreter, with PREFECT_API_URL naming an otherwise idle server and
``SKIFF_FLUSH_INTERVAL`` long (so the reporter holds its reports until ``flush()``).
Prints two tables: the unprofiled cost per task in four modes, and cProfile's split of the
default mode by function, for the caller's thread and for the reporter's thread.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

from runtime_v2 import FLOW_NAME, wait_idle

ROOT = Path(__file__).resolve().parents[2]
# Calls that wait (for the network, a lock, the server) rather than compute.
_WAITS = ("acquire", "recv", "sleep", "poll", "select", "wait", "connect")


def _print_stats(label: str, stats: Any, total: int, unprofiled_us: float) -> None:
    rows = stats.stats
    busy = {k: v for k, v in rows.items() if not any(w in k[2] for w in _WAITS)}
    profiled_us = sum(row[2] for row in busy.values()) / total * 1e6
    waited_us = sum(row[2] for k, row in rows.items() if k not in busy) / total * 1e6
    scale = unprofiled_us / profiled_us if profiled_us else 0.0
    # cProfile inflates every call; its shares, scaled to the unprofiled total, are the
    # best estimate of where that total goes.
    print(
        f"\n{label}: {unprofiled_us:.1f} us of CPU per task, split in cProfile's shares"
        f" (under cProfile {profiled_us:.1f} us, and {waited_us:.0f} us waiting)"
    )
    print(f"  {'us/task':>8} {'cum us':>8} {'calls/task':>10}  function (own time)")
    top = sorted(busy.items(), key=lambda kv: kv[1][2], reverse=True)[:25]
    for (path, line, name), (_cc, calls, own, cum, _callers) in top:
        where = path.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
        print(
            f"  {own / total * 1e6 * scale:8.1f} {cum / total * 1e6 * scale:8.1f}"
            f" {calls / total:10.2f}  {name} ({where}:{line})"
        )


_PROFILE_MODES: tuple[tuple[str, dict[str, str], str], ...] = (
    ("plain calls of the function (task.fn)", {}, "plain"),
    ("tasks, reporting off (SKIFF_REPORTING=false)", {"SKIFF_REPORTING": "false"}, "task"),
    ("tasks, lean (SKIFF_LEAN_TASK_EVENTS=true)", {"SKIFF_LEAN_TASK_EVENTS": "true"}, "task"),
    ("tasks, default (Prefect's 3 events per task)", {}, "task"),
)


def profile(tasks: int, flows: int, pgid: int) -> None:
    """Where skiff's time per task goes, in this process: both threads, per function.

    First the unprofiled cost per task in four modes (plain calls, reporting off, lean,
    default), interleaved: the flow body's loop of task calls (wall, and the caller
    thread's CPU) and the reporter thread's CPU for the whole flow, until ``flush()`` has
    sent everything (the plain row is the flow's own share). The reporter
    is held back during the loop (``SKIFF_FLUSH_INTERVAL`` long, fewer reports than its
    send threshold), so the caller's numbers are the engine's own. Then default mode under
    cProfile: the caller over the loop, and a reporter of its own (other settings, so a
    thread of its own, profiled from its start) while it sends. The server is idle before
    every flow.
    """
    from skiff import flow, flush, task

    caller, sender = cProfile.Profile(), cProfile.Profile()

    @task
    def noop() -> None:
        return None

    @flow(name=FLOW_NAME)
    def work(n: int, mode: str) -> tuple[float, float]:
        call = noop.fn if mode == "plain" else noop
        if mode == "profiled":
            caller.enable()
        start, cpu = time.perf_counter(), time.thread_time()
        for _ in range(n):
            call()
        if mode == "profiled":
            caller.disable()
        return time.perf_counter() - start, time.thread_time() - cpu

    def reporter_clock() -> int | None:
        threads = [t for t in threading.enumerate() if t.name == "skiff-reporter"]
        if not threads or threads[-1].ident is None:
            return None
        return time.pthread_getcpuclockid(threads[-1].ident)

    def sender_cpu(clock: int | None) -> float:
        return time.clock_gettime(clock) if clock is not None else 0.0

    def use_mode(index: int) -> None:
        for name in ("SKIFF_REPORTING", "SKIFF_LEAN_TASK_EVENTS"):
            os.environ.pop(name, None)
        os.environ.update(_PROFILE_MODES[index][1])
        # A flush timeout of its own per mode: distinct settings, so a reporter of its own.
        os.environ["SKIFF_FLUSH_TIMEOUT"] = str(120 + index)

    clocks: list[int | None] = []
    for index, (_label, env, mode) in enumerate(_PROFILE_MODES):
        use_mode(index)
        work(3, mode), flush()  # warm, and start this mode's reporter
        clocks.append(reporter_clock() if "SKIFF_REPORTING" not in env else None)
    sums = [[0.0, 0.0, 0.0] for _ in _PROFILE_MODES]
    for _ in range(flows):
        for index, (_label, _env, mode) in enumerate(_PROFILE_MODES):  # interleaved
            use_mode(index)
            wait_idle(pgid)
            before = sender_cpu(clocks[index])
            loop_wall, loop_cpu = work(tasks, mode)
            flush(timeout=120)
            for slot, value in enumerate((loop_wall, loop_cpu, sender_cpu(clocks[index]) - before)):
                sums[index][slot] += value
    use_mode(len(_PROFILE_MODES) - 1)
    total = tasks * flows
    print(
        f"\nskiff per task: {flows} flows x {tasks} tasks per mode, unprofiled, server idle before each"
    )
    print("  (reporter CPU covers the whole flow's reports: the plain row is the flow's own share)")
    print(f"  {'caller wall':>11} {'caller CPU':>10} {'reporter CPU':>12}  us per task")
    for (label, _env, _mode), (wall, cpu, sending) in zip(_PROFILE_MODES, sums, strict=True):
        print(
            f"  {wall / total * 1e6:11.1f} {cpu / total * 1e6:10.1f} {sending / total * 1e6:12.1f}  {label}"
        )

    def start_profiling(*_args: Any) -> None:
        sys.setprofile(None)
        sender.enable()  # runs in the new reporter thread, and profiles it from now on

    os.environ["SKIFF_FLUSH_TIMEOUT"] = "119"  # new settings: a new reporter and thread
    threading.setprofile(start_profiling)
    work(0, "task")
    threading.setprofile(None)
    flush()
    for _ in range(flows):
        wait_idle(pgid)
        work(tasks, "profiled")
        flush(timeout=120)
    _wall, caller_s, sender_s = sums[-1]
    _print_stats("caller thread, default mode", pstats.Stats(caller), total, caller_s / total * 1e6)
    _print_stats(
        "reporter thread, default mode", pstats.Stats(sender), total, sender_s / total * 1e6
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--flows", type=int, default=5)
    parser.add_argument("--server-pgid", type=int, required=True)
    args = parser.parse_args()
    profile(args.tasks, args.flows, args.server_pgid)


if __name__ == "__main__":
    main()
