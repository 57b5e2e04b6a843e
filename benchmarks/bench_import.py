"""Cold import cost: ``import skiff`` beside ``import httpx`` (and friends), median of N fresh processes.

    .venv/bin/python benchmarks/bench_import.py [--rounds 5] [--json OUT]

Each round starts a new interpreter, times only the import statement with perf_counter,
and reads peak RSS and the number of loaded modules. Rounds alternate between targets
so that disk-cache and CPU-frequency drift hit all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Peak RSS comes from VmHWM: getrusage's ru_maxrss survives fork+exec on Linux, so a child
# would report its parent's peak whenever the parent is the bigger process.
PROBE = """
import sys, time
n0 = len(sys.modules)
t0 = time.perf_counter()
{stmt}
dt = time.perf_counter() - t0
with open("/proc/self/status") as status:
    rss = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
print(dt, rss, len(sys.modules) - n0)
"""

TARGETS = {
    "import httpx": "import httpx",
    "import httpx, msgspec": "import httpx, msgspec",
    "import skiff": "import skiff",
    "skiff + Lambda adapter": "import skiff\nimport skiff.adapters.aws_lambda",
    "skiff + Lambda adapter + decorated handler": (
        "from skiff.adapters.aws_lambda import lambda_flow\n"
        "@lambda_flow\ndef handler(event, context):\n    return event\n"
    ),
    "skiff.Client": "import skiff\nskiff.Client",
}


def clean_env() -> dict[str, str]:
    """This environment without PREFECT_/SKIFF_ settings.

    PYTHONDONTWRITEBYTECODE goes too, so the warm-up leaves .pyc files behind and the rounds
    time imports rather than compilation (uv installs packages without .pyc files).
    """
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SKIFF_")) and k != "PYTHONDONTWRITEBYTECODE"
    }


def measure(
    python: str, stmt: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """(seconds, MB, modules) for one import in a fresh process (``env``: see clean_env)."""
    out = subprocess.run(
        [python, "-c", PROBE.format(stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env=clean_env() if env is None else env,
    )
    dt, rss, mods = out.stdout.split()
    return float(dt), float(rss), int(mods)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--only", nargs="*", default=None, help="target names to run")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    targets = {k: v for k, v in TARGETS.items() if not args.only or k in args.only}
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in targets}
    for stmt in targets.values():  # warm-up: compile .pyc files outside the timings
        measure(args.python, stmt, root)
    for rnd in range(args.rounds):
        print(f"round {rnd + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for name, stmt in targets.items():
            samples[name].append(measure(args.python, stmt, root))
    results = {}
    print(f"{'target':44} {'median ms':>10} {'min-max ms':>14} {'RSS MB':>8} {'modules':>8}")
    for name, rows in samples.items():
        times = [r[0] * 1000 for r in rows]
        med = statistics.median(times)
        rss = statistics.median(r[1] for r in rows)
        mods = rows[0][2]
        results[name] = {
            "median_ms": med,
            "min_ms": min(times),
            "max_ms": max(times),
            "rss_mb": rss,
            "modules": mods,
        }
        print(f"{name:44} {med:10.1f} {min(times):6.1f}-{max(times):<6.1f} {rss:8.1f} {mods:8d}")
    if "import skiff" in results and "import httpx" in results:
        ratio = results["import skiff"]["median_ms"] / results["import httpx"]["median_ms"]
        print(f"import skiff / import httpx = {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
