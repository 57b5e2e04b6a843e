"""Pytest plugin: which spec operations did this session send to the real server?

It records every (method, path) skiff's httpx clients send to the test server, matches
them against the route templates of the repo's spec copy, and prints ``exercised N/M``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiff.client._constants import SPEC_FILE

SPEC = Path(__file__).resolve().parents[2] / "spec" / SPEC_FILE
METHODS = ("get", "post", "put", "patch", "delete")
_seen: set[tuple[str, str]] = set()


def _templates() -> list[tuple[str, str, re.Pattern[str]]]:
    spec = json.loads(SPEC.read_text())
    out = []
    for path, item in spec["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        for method in METHODS:
            if method in item:
                out.append((method.upper(), path, re.compile(f"^{pattern}$")))
    # Literal routes before templated ones, so /flows/filter never counts as /flows/{id}.
    out.sort(key=lambda t: t[1].count("{"))
    return out


def _record(request: httpx.Request) -> None:
    path = request.url.path
    if "/api/" in path:
        _seen.add((request.method, path.split("/api", 1)[1] or "/"))


def pytest_configure(config: pytest.Config) -> None:
    original_sync = httpx.Client.send
    original_async = httpx.AsyncClient.send

    def sync_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        _record(request)
        return original_sync(self, request, **kwargs)

    async def async_send(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        _record(request)
        return await original_async(self, request, **kwargs)

    httpx.Client.send = sync_send  # type: ignore[method-assign]
    httpx.AsyncClient.send = async_send  # type: ignore[method-assign]


def exercised() -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    """(operations hit, all operations) as (METHOD, template) pairs."""
    templates = _templates()
    hit: set[tuple[str, str]] = set()
    for method, path in _seen:
        for t_method, template, pattern in templates:
            if t_method == method and pattern.match(path):
                hit.add((method, template))
                break
    return hit, [(m, t) for m, t, _ in templates]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _seen:
        return
    hit, every = exercised()
    missing = sorted(set(every) - hit, key=lambda p: (p[1], p[0]))
    terminalreporter.write_sep("-", "operations sent to the real Prefect server")
    # A partial run leaves most routes out; list them only when the list is worth reading.
    if missing and (len(missing) <= 20 or os.environ.get("SKIFF_SHOW_UNEXERCISED") == "1"):
        for method, template in missing:
            terminalreporter.write_line(f"  not exercised: {method} {template}")
    terminalreporter.write_line(f"exercised {len(hit)}/{len(every)}")
