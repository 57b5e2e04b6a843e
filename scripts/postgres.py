"""A scratch PostgreSQL 15 cluster on 127.0.0.1, for a Prefect server to use in tests.

Uses the image's Debian package (``initdb``, ``pg_ctl``, ``psql``: on PATH or under
``/usr/lib/postgresql/15/bin``). PostgreSQL refuses to run as root, so when we are root
every binary runs as the ``postgres`` OS user (``runuser``) and the scratch folder is
handed to it. The cluster listens on 127.0.0.1 only, its Unix socket sits in the scratch
folder, and :meth:`PostgresHandle.stop` stops it and removes everything::

    pg = postgres.start()
    server = prefect_server.start(database_url=pg.url)
    ...
    server.stop()
    pg.stop()

``python scripts/postgres.py`` starts one, prints its URL and waits for Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_VERSION = "15"
PG_BIN_DIRS = (f"/usr/lib/postgresql/{PG_VERSION}/bin",)
OS_USER = "postgres"


def log(message: str) -> None:
    """Progress output on stderr."""
    print(f"[postgres] {message}", file=sys.stderr, flush=True)


def find_bin(name: str) -> str:
    """The path of a PostgreSQL program: the versioned package folder first, then PATH."""
    for folder in PG_BIN_DIRS:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found on PATH or in {', '.join(PG_BIN_DIRS)}: "
        f"install the postgresql-{PG_VERSION} package"
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", OS_USER, "--", *command]


def _run(command: list[str], timeout: float = 120.0) -> None:
    out = subprocess.run(
        _as_owner(command),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with {out.returncode}:\n{out.stdout}{out.stderr}"
        )


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(eq=False)
class PostgresHandle:
    """A running scratch cluster: where it listens, its credentials and its folders."""

    port: int
    user: str
    password: str
    database: str
    base_dir: str
    log_file: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> str:
        """The cluster's data directory."""
        return os.path.join(self.base_dir, "data")

    @property
    def socket_dir(self) -> str:
        """Where the Unix socket lives (never /var/run: nothing outside the scratch folder)."""
        return os.path.join(self.base_dir, "socket")

    @property
    def url(self) -> str:
        """The SQLAlchemy asyncpg URL, as PREFECT_API_DATABASE_CONNECTION_URL wants it."""
        return (
            f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/"
            f"{self.database}"
        )

    def __repr__(self) -> str:
        # The password stays out of reprs and logs.
        return (
            f"PostgresHandle(port={self.port}, database={self.database!r}, dir={self.base_dir!r})"
        )

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the cluster's superuser over the Unix socket."""
        _run(
            [
                find_bin("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-U",
                OS_USER,
                "-d",
                database,
                "-c",
                sql,
            ]
        )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown, then immediate) and remove its folder."""
        if self._stopped:
            return
        self._stopped = True
        _live.discard(self)
        if os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            for mode in ("fast", "immediate"):
                try:
                    _run([find_bin("pg_ctl"), "-D", self.data_dir, "-m", mode, "-w", "stop"], 30)
                    break
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log(f"pg_ctl stop -m {mode}: {exc}")
        shutil.rmtree(self.base_dir, ignore_errors=True)


# Clusters left running when the interpreter exits without stop() would outlive the test.
_live: set[PostgresHandle] = set()


@atexit.register
def _stop_live() -> None:
    for handle in list(_live):
        with contextlib.suppress(Exception):
            handle.stop()


def start(
    *,
    port: int | None = None,
    user: str = "skiff",
    password: str | None = None,
    database: str = "prefect",
    base_dir: str | None = None,
    fsync: bool = False,
    max_connections: int = 200,
    timeout: float = 60.0,
) -> PostgresHandle:
    """Create a scratch cluster with ``initdb``, start it and create ``user`` and ``database``.

    ``fsync=False`` (the default) trades crash safety for speed, which a throwaway test
    database does not need; the server's SQL is unchanged. ``max_connections`` leaves room
    for a server's pools across restarts (killed servers leave connections until they time out).
    """
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    port = port or free_port()
    password = password or secrets.token_hex(12)
    base = base_dir or tempfile.mkdtemp(prefix="skiff-postgres-")
    os.makedirs(base, exist_ok=True)
    handle = PostgresHandle(port, user, password, database, base, os.path.join(base, "server.log"))
    os.makedirs(handle.socket_dir, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OS_USER)
        for path in (base, handle.socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    _live.add(handle)
    try:
        log(f"initdb {handle.data_dir}")
        _run(
            [
                initdb,
                "-D",
                handle.data_dir,
                "-U",
                OS_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={port}",
            f"-c unix_socket_directories={handle.socket_dir}",
            f"-c max_connections={max_connections}",
        ]
        if not fsync:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        log(f"starting PostgreSQL {PG_VERSION} on 127.0.0.1:{port}")
        _run(
            [
                pg_ctl,
                "-D",
                handle.data_dir,
                "-l",
                handle.log_file,
                "-o",
                " ".join(options),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout + 10,
        )
        handle.psql(f"CREATE ROLE {user} LOGIN PASSWORD {_sql_literal(password)}")
        handle.psql(f"CREATE DATABASE {database} OWNER {user}")
    except BaseException:
        with contextlib.suppress(OSError):
            log(f"server log tail:\n{Path(handle.log_file).read_text(errors='replace')[-2000:]}")
        handle.stop()
        raise
    return handle


def _cli() -> int:
    handle = start()
    print(handle.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
