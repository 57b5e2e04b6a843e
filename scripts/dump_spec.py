#!/usr/bin/env python3
"""Fetch the OpenAPI spec from a real Prefect server and store the repo's copy.

    python scripts/dump_spec.py [VERSION ...]

Starts a server with ``scripts/prefect_server.py`` (the version skiff is generated for, or
each VERSION given, e.g. the older 3.4.25 and 3.6.29), GETs ``/api/openapi.json`` and writes
``spec/prefect-server-<version>-openapi.json`` (indent 1, sorted keys, ASCII, no trailing
newline: the format the copy has always had, so a dump of the same server changes nothing).
The older servers' copies feed ``scripts/server_versions.py``. Progress goes to stderr.
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


def target(version: str) -> Path:
    """Where the spec of one server version is stored."""
    return ROOT / "spec" / f"prefect-server-{version}-openapi.json"


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[dump_spec] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    """Dump the spec of each version in ``argv`` (default: the one skiff is generated for)."""
    for version in argv or [prefect_server.PREFECT_VERSION]:
        dump(version)
    return 0


def dump(version: str) -> None:
    """Start server ``version``, fetch its spec and store it."""
    log(f"starting a Prefect {version} server")
    handle = prefect_server.start(version=version)
    try:
        url = f"{handle.api_url}/openapi.json"
        log(f"GET {url}")
        with urllib.request.urlopen(url, timeout=60) as reply:
            spec = json.load(reply)
    finally:
        log("stopping the server")
        handle.stop()
    text = json.dumps(spec, indent=1, sort_keys=True)
    path = target(version)
    changed = not path.exists() or path.read_text() != text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    operations = sum(
        1
        for item in spec["paths"].values()
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    )
    log(
        f"wrote {path.relative_to(ROOT)}: {len(spec['paths'])} paths, {operations} operations, "
        f"{len(spec['components']['schemas'])} schemas ({'changed' if changed else 'unchanged'})"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
