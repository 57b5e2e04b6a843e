"""Record real Prefect 3.9.1's side of the compat suite (tests/compat), or check the recording.

    python scripts/compat.py                 # run every program under Prefect, (re)write recordings
    python scripts/compat.py --check         # run them again, verify the recordings are unchanged
    python scripts/compat.py basic_flow ...  # only these programs
    python scripts/compat.py --skiff         # run skiff's side, print N of M and the KNOWN list

Each program in ``tests/compat/programs`` runs with the Prefect server environment's python
(``scripts/prefect_server.ensure_env``) against a fresh local server (or ``--api-url``),
one after another; what the server recorded is normalized by ``tests/compat/harness.py`` and
written to ``tests/compat/recorded/<program>.json``. CI does not run this: the test suite runs
only skiff's side and compares it with these files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402
from tests.compat import harness  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/compat.py", description=__doc__.split("\n")[0])
    parser.add_argument("programs", nargs="*", help="program names (default: all)")
    parser.add_argument("--check", action="store_true", help="verify, do not write")
    parser.add_argument("--api-url", help="use this server instead of starting a fresh one")
    parser.add_argument(
        "--skiff",
        action="store_true",
        help="run skiff's side instead and print a new KNOWN for known_differences.py",
    )
    args = parser.parse_args(argv)
    names = args.programs or harness.programs()
    unknown = sorted(set(names) - set(harness.programs()))
    if unknown:
        parser.error(f"unknown programs: {', '.join(unknown)}")

    t0 = time.monotonic()
    python = sys.executable if args.skiff else str(prefect_server.ensure_env())
    side = "skiff" if args.skiff else "prefect"
    handle = None
    api_url = args.api_url
    if not api_url:
        handle = prefect_server.start()
        api_url = handle.api_url
    scratch = harness.scratch_dir()
    try:
        runs = []
        for name in names:
            run = harness.run_program(name, side, python, api_url, scratch)
            print(f"  ran {name}: exit {run.returncode} in {run.seconds:.1f} s", file=sys.stderr)
            runs.append(run)
        waited = harness.settle(api_url, runs)
        print(f"  server settled after {waited:.1f} s", file=sys.stderr)
        changed = []
        known: dict[str, str] = {}
        for run in runs:
            record = harness.normalize(run, harness.raw_records(api_url, run))
            if args.skiff:
                expected = json.loads((harness.RECORDED / f"{run.program}.json").read_text())
                if harness.differences(expected, record):
                    known[run.program] = harness.reason(run, expected, record)
                continue
            path = harness.RECORDED / f"{run.program}.json"
            text = json.dumps(record, indent=1, sort_keys=True) + "\n"
            if args.check:
                old = json.loads(path.read_text()) if path.exists() else {}
                fields = harness.differences(old, record)
                if fields:
                    changed.append(run.program)
                    print(f"CHANGED {run.program}: {', '.join(fields)}")
                    for line in harness.describe(old, record):
                        print(f"    {line}")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    finally:
        if handle is not None:
            handle.stop()
    took = time.monotonic() - t0
    if args.skiff:
        print("KNOWN: dict[str, str] = {")
        for name, why in known.items():
            print(f"    {name!r}: {why!r},")
        print("}")
        print(f"compat: {len(names) - len(known)} identical of {len(names)} ({took:.0f} s)")
        return 0
    verb = "checked" if args.check else "recorded"
    print(f"compat: {verb} {len(names)} programs under Prefect in {took:.0f} s", file=sys.stderr)
    if args.check and changed:
        print(f"compat: {len(changed)} recordings differ: {' '.join(changed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
