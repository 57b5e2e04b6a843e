"""Install, start and stop a real Prefect server on 127.0.0.1, in its own environment.

Used by ``scripts/prefect-server``, the demo, the benchmarks and the pytest fixtures. The
default is the version skiff is generated for (``skiff.client._constants.SERVER_VERSION``);
``start(version=...)`` runs one of the older servers in :data:`SERVER_PACKAGES` instead.
Each version gets its own environment under ``.cache/prefect-server-<version>``, and none
mixes with skiff's: prefect 3.9.1 pins ``certifi>=2026.10.19``, which the registry lacks, so
it is installed with an override to ``certifi==2026.10.18``; 3.4.x and 3.6.x install only
with ``fastapi<0.120``, and 3.4.x also needs ``importlib_metadata``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skiff.client._constants import SERVER_VERSION  # noqa: E402

CACHE = Path(os.environ.get("SKIFF_CACHE_DIR", ROOT / ".cache"))
PREFECT_VERSION = SERVER_VERSION
# What each server version's environment holds (the older ones for the smoke suites).
# 3.9.1's holds the three integrations at the releases whose block schemas skiff's match, with
# the extras their storage and secret blocks import. A changed list reinstalls an existing
# environment: ensure_env compares it with the list the environment was made from.
SERVER_PACKAGES: dict[str, list[str]] = {
    PREFECT_VERSION: [
        f"prefect=={PREFECT_VERSION}",
        "prefect-aws==0.7.12",
        "prefect-gcp[cloud_storage,secret_manager]==0.6.22",
        "prefect-azure[blob_storage]==0.4.13",
    ],
    "3.6.29": ["prefect==3.6.29", "fastapi<0.120"],
    "3.4.25": ["prefect==3.4.25", "fastapi<0.120", "importlib_metadata"],
}
OVERRIDES = "certifi==2026.10.18\n"
PID_FILE = CACHE / "prefect-server.json"


def log(message: str) -> None:
    """Progress output on stderr, so stdout stays machine-readable."""
    print(f"[prefect-server] {message}", file=sys.stderr, flush=True)


def uv_command() -> list[str]:
    """How to run uv: on PATH, or as a module of this Python, installed on demand."""
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode != 0:
        log("installing uv with pip")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True)
    return [sys.executable, "-m", "uv"]


def env_dir_for(version: str = PREFECT_VERSION) -> Path:
    """Where the environment of one server version lives (``SKIFF_SERVER_ENV`` for the default)."""
    if version == PREFECT_VERSION and os.environ.get("SKIFF_SERVER_ENV"):
        return Path(os.environ["SKIFF_SERVER_ENV"])
    return CACHE / f"prefect-server-{version}"


def ensure_env(
    env_dir: Path | None = None,
    packages: list[str] | None = None,
    python: str = "3.11",
    version: str = PREFECT_VERSION,
) -> Path:
    """Create (or reuse) an isolated environment holding ``packages``; return its python.

    Without ``env_dir`` and ``packages``, it is the environment of server ``version``.
    """
    if version not in SERVER_PACKAGES:
        raise ValueError(f"no packages known for Prefect {version}; add it to SERVER_PACKAGES")
    env_dir = env_dir or env_dir_for(version)
    packages = packages or SERVER_PACKAGES[version]
    python_bin = env_dir / "bin" / "python"
    stamp = env_dir / ".skiff-installed"
    wanted = "\n".join(packages)
    if python_bin.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python_bin
    uv = uv_command()
    verb = "updating" if python_bin.exists() else "creating"
    log(f"{verb} {env_dir} with {' '.join(packages)} (once; later runs reuse it)")
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*uv, "venv", "-q", "--allow-existing", "-p", python, str(env_dir)], check=True)
    overrides = env_dir / "overrides.txt"
    overrides.write_text(OVERRIDES)
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(python_bin),
            *packages,
            "--override",
            str(overrides),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python_bin


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    api_url: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``/health`` until it answers, or raise with the reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the Prefect server at {api_url} was not healthy within {timeout:.0f} s")


@dataclass
class ServerHandle:
    """A running server: its API URL, pid, port, PREFECT_HOME and log file.

    ``database_url`` and ``extra_env`` are what it was started with, so :meth:`restart`
    brings it back on the same database, port and home.
    """

    api_url: str
    pid: int
    port: int
    home: str
    log_file: str
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    version: str = PREFECT_VERSION

    @property
    def ui_url(self) -> str:
        """The UI address."""
        return self.api_url.removesuffix("/api")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and everything it started."""
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return
            _reap(self.pid)
            time.sleep(0.1)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the server's whole process group at once: a crash, no shutdown work."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _reap(self.pid)
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def restart(self, timeout: float = 90.0) -> None:
        """Kill the server if it still runs, then start it again on the same port and database.

        The handle is updated in place (new pid); the API URL stays the same.
        """
        self.kill()
        process = _spawn(
            self.port, self.home, self.log_file, self.database_url, self.extra_env, self.version
        )
        self.pid = process.pid
        _wait_or_stop(self, process, timeout)

    @property
    def alive(self) -> bool:
        """Whether the server's process group still exists."""
        _reap(self.pid)
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _spawn(
    port: int,
    home: str,
    log_file: str,
    database_url: str | None,
    extra_env: dict[str, str],
    version: str = PREFECT_VERSION,
) -> subprocess.Popen[bytes]:
    python_bin = ensure_env(version=version)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "VIRTUAL_ENV"
    }
    env.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.update(extra_env)
    prefect_bin = python_bin.parent / "prefect"
    where = "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite"
    log(f"starting Prefect {version} on 127.0.0.1:{port} ({where}, PREFECT_HOME={home})")
    # Append: a restarted server keeps the log of the one before it.
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            [str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_or_stop(handle: ServerHandle, process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        wait_healthy(handle.api_url, timeout, process)
    except BaseException:
        handle.stop()
        tail = Path(handle.log_file).read_text(errors="replace")[-2000:]
        log(f"server log tail:\n{tail}")
        raise


def start(
    port: int | None = None,
    home: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 90.0,
    database_url: str | None = None,
    version: str = PREFECT_VERSION,
) -> ServerHandle:
    """Start a real server on 127.0.0.1 with a scratch PREFECT_HOME and wait until healthy.

    ``database_url`` (PREFECT_API_DATABASE_CONNECTION_URL, e.g. from
    ``scripts/postgres.py``) replaces the SQLite file in PREFECT_HOME. ``version`` picks
    the server (one of :data:`SERVER_PACKAGES`; its environment is created on first use).
    """
    port = port or free_port()
    home = home or tempfile.mkdtemp(prefix="skiff-prefect-home-")
    log_file = os.path.join(home, "server.log")
    extra = dict(extra_env or {})
    process = _spawn(port, home, log_file, database_url, extra, version)
    handle = ServerHandle(
        f"http://127.0.0.1:{port}/api",
        process.pid,
        port,
        home,
        log_file,
        database_url,
        extra,
        version,
    )
    _wait_or_stop(handle, process, timeout)
    return handle


def ensure_running(port: int | None = None) -> ServerHandle:
    """The server started by an earlier call if it is still healthy, else a new one (pid file kept)."""
    if PID_FILE.exists():
        running = ServerHandle(**json.loads(PID_FILE.read_text()))
        try:
            wait_healthy(running.api_url, 2)
            log(f"already running (pid {running.pid})")
            return running
        except RuntimeError:
            PID_FILE.unlink()
    handle = start(port=port)
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    PID_FILE.write_text(json.dumps(asdict(handle)))
    log(f"pid {handle.pid}, log {handle.log_file}, UI {handle.ui_url}")
    return handle


def _cli(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/prefect-server",
        description="Run a real Prefect server on 127.0.0.1 in its own environment.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="start in the background; prints the API URL last")
    start_cmd.add_argument("--port", type=int, default=None)
    sub.add_parser("stop", help="stop the server started by 'start'")
    install = sub.add_parser("install", help="only create the server's environment")
    install.add_argument(
        "--all", action="store_true", help="also the older servers the smoke suites run against"
    )
    args = parser.parse_args(argv)

    if args.command == "install":
        for version in SERVER_PACKAGES if args.all else [PREFECT_VERSION]:
            print(ensure_env(version=version))
        return 0
    if args.command == "start":
        print(ensure_running(args.port).api_url)
        return 0
    if not PID_FILE.exists():
        log("no server started by this script is running")
        return 0
    handle = ServerHandle(**json.loads(PID_FILE.read_text()))
    handle.stop()
    PID_FILE.unlink()
    log(f"stopped pid {handle.pid}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
