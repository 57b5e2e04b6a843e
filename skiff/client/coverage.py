"""How much of a Prefect server's REST API the client covers.

    python -m skiff.client.coverage [SPEC]

``SPEC`` is an OpenAPI JSON file (default: the repo's ``spec/`` copy). It prints one line per
tag, ``covered/total``, then ``covered N/M operations``. An operation counts only when a
method for its (HTTP method, path) exists on both ``Client`` and ``AsyncClient`` and that
method's docstring names the same route.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from skiff.client._constants import SPEC_FILE

__all__ = ["DEFAULT_SPEC", "covered_operations", "main"]

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "spec" / SPEC_FILE
_METHODS = ("get", "post", "put", "patch", "delete")


def _has_method(client: Any, resource: str, name: str, route: str) -> bool:
    group = getattr(client, resource, None)
    method = getattr(group, name, None)
    if not callable(method):
        return False
    doc = (method.__doc__ or "").strip()
    return doc.startswith(f"``{route}``")


def covered_operations(spec: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """For every operation in ``spec``: (tag, "METHOD /path", covered)."""
    from skiff.client._async._client import AsyncClient
    from skiff.client._generated.operations import OPERATIONS
    from skiff.client._sync._client import Client

    table = {(op.method, op.path): op for op in OPERATIONS}
    # No request is sent: the clients are only inspected.
    sync_client = Client("http://127.0.0.1:9/api")
    async_client = AsyncClient("http://127.0.0.1:9/api")
    out = []
    try:
        for path, item in spec.get("paths", {}).items():
            for method in _METHODS:
                if method not in item:
                    continue
                route = f"{method.upper()} {path}"
                tags = item[method].get("tags") or ["(untagged)"]
                op = table.get((method.upper(), path))
                ok = op is not None and all(
                    _has_method(c, op.resource, op.name, route) for c in (sync_client, async_client)
                )
                out.append((tags[0], route, ok))
    finally:
        sync_client.close()
        asyncio.run(async_client.aclose())
    return out


def main(argv: list[str] | None = None) -> int:
    """Print per-tag and total coverage; exit 0, or 2 when the spec cannot be read."""
    args = sys.argv[1:] if argv is None else argv
    spec_path = Path(args[0]) if args else DEFAULT_SPEC
    if not spec_path.is_file():
        hint = (
            "" if args else " (no SPEC given, and the repo's spec/ copy is not next to the package)"
        )
        print(f"coverage: no OpenAPI spec at {spec_path}{hint}; pass its path", file=sys.stderr)
        return 2
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"coverage: cannot read {spec_path}: {exc}", file=sys.stderr)
        return 2
    results = covered_operations(spec)
    per_tag: dict[str, list[bool]] = {}
    for tag, _route, ok in results:
        per_tag.setdefault(tag, []).append(ok)
    width = max((len(t) for t in per_tag), default=0)
    for tag in sorted(per_tag):
        oks = per_tag[tag]
        print(f"{tag:<{width}}  {sum(oks)}/{len(oks)}")
    missing = [route for _tag, route, ok in results if not ok]
    for route in missing:
        print(f"  missing: {route}")
    print(f"covered {len(results) - len(missing)}/{len(results)} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
