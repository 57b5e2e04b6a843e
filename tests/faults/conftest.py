"""Fixtures of the fault and load suite: servers of its own, on SQLite and on PostgreSQL.

* ``sqlite_server``: a Prefect 3.9.1 server on a fresh SQLite database (module scope), a
  :class:`~scripts.prefect_server.ServerHandle` the test may ``kill()`` and ``restart()``.
* ``postgres_cluster`` / ``postgres_server``: a scratch PostgreSQL 15 cluster
  (``scripts/postgres.py``) and a server on it (module scope), also restartable.
* ``load_report``: add a block of text (a table of figures) to the terminal summary, so it
  shows without ``-s``; each block is also written to ``<basetemp>/load-report.txt``.

Every server listens on a free port of 127.0.0.1 and is stopped afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts import postgres, prefect_server

_REPORTS = pytest.StashKey[list[str]]()
_REPORT_FILE = pytest.StashKey[Path]()


@pytest.fixture(scope="module")
def sqlite_server() -> Iterator[prefect_server.ServerHandle]:
    """A server of this module's own on a fresh SQLite database in its PREFECT_HOME."""
    handle = prefect_server.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[postgres.PostgresHandle]:
    """A scratch PostgreSQL 15 cluster on 127.0.0.1 with a database and a password user."""
    cluster = postgres.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_server(
    postgres_cluster: postgres.PostgresHandle,
) -> Iterator[prefect_server.ServerHandle]:
    """A server on the scratch PostgreSQL cluster (PREFECT_API_DATABASE_CONNECTION_URL)."""
    handle = prefect_server.start(database_url=postgres_cluster.url)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def load_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """``load_report(text)`` queues ``text`` for the terminal summary and returns the file."""
    config = request.config

    def add(text: str) -> Path:
        config.stash.setdefault(_REPORTS, []).append(text)
        path = config.stash.get(_REPORT_FILE, None)
        if path is None:
            path = config.stash[_REPORT_FILE] = tmp_path_factory.getbasetemp() / "load-report.txt"
        with path.open("a") as out:
            out.write(text.rstrip() + "\n\n")
        return path

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the load figures after the run, whatever the capture mode."""
    reports = terminalreporter.config.stash.get(_REPORTS, [])
    if not reports:
        return
    terminalreporter.write_sep("=", "fault and load figures")
    for text in reports:
        terminalreporter.write_line(text.rstrip())
        terminalreporter.write_line("")
    path = terminalreporter.config.stash.get(_REPORT_FILE, None)
    if path is not None:
        terminalreporter.write_line(f"(also in {path})")
