"""Server-version awareness, without I/O: which operations an older server lacks.

The table comes from ``scripts/spec_tables.py`` (:mod:`skiff.client._spec_tables`), derived
from the specs of the measured servers. The transport reads the server's version once, from
``GET /admin/version``, and only when a call needs it: an operation in the table.

A server at or below the newest measured version that lacks an operation gets
:class:`~skiff.UnsupportedByServerError` before anything is sent. Between that version and
the oldest measured one that has it, the call is sent, and a bare 404 ("Not Found", the
answer for a route the server does not have) becomes the same error.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, NamedTuple

from skiff._exceptions import UnsupportedByServerError
from skiff.client._spec_tables import ADDED

if TYPE_CHECKING:
    from skiff._exceptions import APIStatusError

__all__ = [
    "Requirement",
    "parse_version",
    "requirement",
    "route_missing_error",
    "unsupported_error",
]


class Requirement(NamedTuple):
    """What one operation needs: its spec key, client method, and the measured versions."""

    operation: str  # "METHOD /path" as in the spec
    method_name: str  # "flow_runs.bulk_set_state"
    newest_lacking: str
    oldest_having: str


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"3.4.25"`` -> ``(3, 4, 25)``; None for what does not start with a version number."""
    match = re.match(r"\s*v?(\d+(?:\.\d+){0,2})", text)
    if not match:
        return None
    parts = tuple(int(p) for p in match.group(1).split("."))
    return parts + (0,) * (3 - len(parts))


@functools.cache
def _templates() -> dict[tuple[str, int], list[tuple[re.Pattern[str], int, str, str]]]:
    """Spec paths by (method, segment count): (regex, literal segments, key, client method)."""
    from skiff.client._generated.operations import OPERATIONS

    out: dict[tuple[str, int], list[tuple[re.Pattern[str], int, str, str]]] = {}
    for op in OPERATIONS:
        segments = op.path.strip("/").split("/")
        pattern = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
        literal = sum(not s.startswith("{") for s in segments)
        key = f"{op.method} {op.path}"
        entry = (re.compile(pattern), literal, key, f"{op.resource}.{op.name}")
        out.setdefault((op.method, len(segments)), []).append(entry)
    return out


@functools.cache
def _gated_shapes() -> frozenset[tuple[str, int]]:
    return frozenset(
        (key.split(" ", 1)[0], len(key.split(" ", 1)[1].strip("/").split("/"))) for key in ADDED
    )


def requirement(method: str, path: str) -> Requirement | None:
    """The version requirement of the operation ``method path`` resolves to, if it has one.

    ``path`` is the concrete path (``/flow_runs/bulk_set_state``, ``/work_pools/p/...``);
    where templates overlap, the one with more literal segments wins, as routing does.
    """
    method = method.upper()
    clean = path.split("?", 1)[0].strip("/")
    shape = (method, len(clean.split("/")))
    if shape not in _gated_shapes():
        return None
    best: tuple[int, str, str] | None = None
    for regex, literal, key, name in _templates().get(shape, ()):
        if regex.fullmatch(clean) and (best is None or literal > best[0]):
            best = (literal, key, name)
    if best is None or best[1] not in ADDED:
        return None
    newest_lacking, oldest_having = ADDED[best[1]]
    return Requirement(best[1], best[2], newest_lacking, oldest_having)


def _message(req: Requirement, server_version: str | None) -> str:
    seen = f"this server is {server_version}" if server_version else "this server's version"
    return (
        f"{req.method_name}() ({req.operation}) needs a Prefect server >= {req.oldest_having}; "
        f"{seen} (measured: {req.newest_lacking} lacks it). Upgrade the server, or avoid "
        f"this call on older servers"
    )


def unsupported_error(
    req: Requirement, server_version: str | None
) -> UnsupportedByServerError | None:
    """The error to raise before sending, when the server is known to lack the operation."""
    version = parse_version(server_version) if server_version else None
    lacking = parse_version(req.newest_lacking)
    if version is None or lacking is None or version > lacking:
        return None
    return _unsupported(req, server_version)


def route_missing_error(
    req: Requirement, server_version: str | None, error: APIStatusError
) -> UnsupportedByServerError | None:
    """For a 404 of a gated operation: the version error, if the 404 means "no such route".

    FastAPI answers an unknown route with ``{"detail": "Not Found"}``; Prefect's own
    "object not found" answers say what was not found.
    """
    version = parse_version(server_version) if server_version else None
    having = parse_version(req.oldest_having)
    if error.status_code != 404 or error.detail != "Not Found":
        return None
    if version is not None and having is not None and version >= having:
        return None
    return _unsupported(req, server_version)


def _unsupported(req: Requirement, server_version: str | None) -> UnsupportedByServerError:
    return UnsupportedByServerError(
        _message(req, server_version),
        operation=req.operation,
        server_version=server_version,
        required_version=req.oldest_having,
    )
