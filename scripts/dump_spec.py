#!/usr/bin/env python3
"""Fetch the OpenAPI spec from a real Prefect server and store the repo's copy.

    python scripts/dump_spec.py

Starts a server with ``scripts/prefect_server.py``, GETs ``/api/openapi.json`` and writes
``spec/prefect-server-3.9.1-openapi.json`` (indent 1, sorted keys, ASCII, no trailing
newline: the format the copy has always had, so a dump of the same server changes nothing).
Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402

TARGET = ROOT / "spec" / f"prefect-server-{prefect_server.PREFECT_VERSION}-openapi.json"


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[dump_spec] {message}", file=sys.stderr, flush=True)


def main() -> int:
    log("starting a Prefect server")
    handle = prefect_server.start()
    try:
        url = f"{handle.api_url}/openapi.json"
        log(f"GET {url}")
        with urllib.request.urlopen(url, timeout=60) as reply:
            spec = json.load(reply)
    finally:
        log("stopping the server")
        handle.stop()
    text = json.dumps(spec, indent=1, sort_keys=True)
    changed = not TARGET.exists() or TARGET.read_text() != text
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    operations = sum(
        1
        for item in spec["paths"].values()
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    )
    log(
        f"wrote {TARGET.relative_to(ROOT)}: {len(spec['paths'])} paths, {operations} operations, "
        f"{len(spec['components']['schemas'])} schemas ({'changed' if changed else 'unchanged'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
