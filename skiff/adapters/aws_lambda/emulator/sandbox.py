"""One execution environment: the runtime process, external extensions and their API server.

A sandbox starts its external extensions first and waits for them to register (Lambda's
"Extension init"), then starts ``python -m awslambdaric`` (runtime and function init).
It can be frozen (SIGSTOP to every process group) and thawed, and it ends with Lambda's
shutdown phase:

- with external extensions: SIGTERM to the runtime, which gets 300 ms (500 ms when an
  internal extension is registered too), then SHUTDOWN to the external extensions
  registered for it, within 2 s in all;
- with internal extensions only: SIGTERM to the runtime and 500 ms;
- without extensions AWS allows no time at all; the emulator still sends SIGTERM and
  waits up to 500 ms, so that a handler's SIGTERM hook can be exercised.

Whatever is still running at the limit gets SIGKILL. After a timeout (shutdown reason
``timeout``) the runtime is killed at once, and only external extensions get their time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from .extensions import ExtensionError, ExtensionsAPI
from .runtime import RuntimeAPI, RuntimeAPIServer

__all__ = ["ACCOUNT_ID", "FUNCTION_NAME", "INIT_TIMEOUT", "FunctionConfig", "Sandbox"]

ACCOUNT_ID = "123456789012"
"""The fake account in every ARN."""
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What Lambda accepts as a function name."""
INIT_TIMEOUT = 10.0
"""Real Lambda's limit on the init phase, independent of the function timeout."""
SHUTDOWN_LIMIT = 2.0
RUNTIME_SHARE = 0.3
RUNTIME_SHARE_INTERNAL = 0.5
# Variables AWS keeps from extensions: they belong to the runtime process.
_RUNTIME_ONLY = (
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
)


@dataclass
class FunctionConfig:
    """One Lambda function: its handler, code location, settings and external extensions.

    ``extensions`` are paths of executables, like the files of ``/opt/extensions``: each
    is started before the runtime and must register under its file name.
    """

    name: str
    handler: str
    task_root: str
    timeout: float = 3.0
    memory_size: int = 128
    env: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    extensions: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        """The function's (fake-account) ARN."""
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tasks(pid: int) -> list[str]:
    """The thread ids of process ``pid`` (empty without /proc)."""
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def _proc_state(pid: int, task: str | None = None) -> str | None:
    """Scheduler state letter of a process (or one of its threads) from /proc, if any."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    try:
        with open(path, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; the state follows the last ')'.
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3].decode()


def exit_description(code: int) -> str:
    """``signal: SIGKILL`` or ``exit status 3``, as Lambda words a process's end."""
    return f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


class Sandbox:
    """One runtime process, its external extensions and the server they poll."""

    def __init__(
        self,
        config: FunctionConfig,
        log_path: str | None,
        freeze: bool,
        errors: list[ExtensionError],
    ) -> None:
        self.config = config
        self.freeze_enabled = freeze
        self.cond = threading.Condition()
        metadata = {
            "functionName": config.name,
            "functionVersion": "$LATEST",
            "handler": config.handler,
        }
        names = [os.path.basename(path) for path in config.extensions]
        self.extensions = ExtensionsAPI(self.cond, metadata, names, errors)
        self.runtime = RuntimeAPI(self.cond, self.extensions, config.arn)
        self.init_started = time.monotonic()
        self.initialized = False
        self.frozen = False
        self.runtime_exit: int | None = None
        """The runtime's return code once it has ended."""
        self._log_path = log_path
        self._procs: list[subprocess.Popen[bytes]] = []
        self._watchers: list[threading.Thread] = []
        self._shutting = False
        self._closed = False
        self._server = RuntimeAPIServer(self.runtime, self.extensions)
        self._server_thread = threading.Thread(
            target=self._server.serve, name=f"lambda-runtime-api-{config.name}", daemon=True
        )
        self._server_thread.start()
        self._runtime: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except BaseException:
            self._kill_all()
            self._stop_server()
            raise

    @property
    def pid(self) -> int | None:
        """The runtime's pid (None when extension init failed before it started)."""
        return self._runtime.pid if self._runtime else None

    def _environment(self) -> dict[str, str]:
        cfg = self.config
        task_root = os.path.abspath(cfg.task_root)
        env = dict(os.environ)
        pythonpath = [task_root, *filter(None, [env.get("PYTHONPATH")])]
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self._server.server_port}",
                "PYTHONPATH": os.pathsep.join(pythonpath),
                "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_size),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": cfg.region,
                "AWS_DEFAULT_REGION": cfg.region,
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": (
                    f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
                ),
                "_HANDLER": cfg.handler,
                "LAMBDA_TASK_ROOT": task_root,
                # Makes awslambdaric poll /next off the main thread, so signals reach handlers.
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            }
        )
        env.update(cfg.env)
        return env

    def _spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # Without a log file, output joins the emulator's stderr, keeping stdout clean.
        log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                argv,
                cwd=os.path.abspath(self.config.task_root),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log if log else 2,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log:
                log.close()
        self._procs.append(proc)
        return proc

    def _watch(self, proc: subprocess.Popen[bytes], on_exit: Callable[[int], None]) -> None:
        watcher = threading.Thread(
            target=lambda: on_exit(proc.wait()), name=f"lambda-reaper-{proc.pid}", daemon=True
        )
        self._watchers.append(watcher)
        watcher.start()

    def _start(self) -> None:
        env = self._environment()
        extension_env = {k: v for k, v in env.items() if k not in _RUNTIME_ONLY}
        for path in self.config.extensions:
            name = os.path.basename(path)
            try:
                proc = self._spawn([os.path.abspath(path)], extension_env)
            except OSError as exc:
                with self.cond:
                    self.extensions.failure = ("Extension.LaunchError", f"{name}: {exc}")
                return
            self._watch(proc, functools.partial(self._extension_exited, name))
        # Extension init: the runtime starts once every external extension has registered.
        give_up = self.init_started + INIT_TIMEOUT
        with self.cond:
            while not self.extensions.externals_registered():
                remaining = give_up - time.monotonic()
                if self.extensions.failure is not None or remaining <= 0:
                    return  # the invocation reports the failure or the init timeout
                self.cond.wait(remaining)
            if self.extensions.failure is not None:
                return
        self._runtime = self._spawn(
            [sys.executable, "-m", "awslambdaric", self.config.handler], env
        )
        self._watch(self._runtime, self._runtime_exited)

    def _extension_exited(self, name: str, code: int) -> None:
        with self.cond:
            self.extensions.process_exited(name, exit_description(code))

    def _runtime_exited(self, code: int) -> None:
        with self.cond:
            self.runtime_exit = code
            self.cond.notify_all()

    def freeze(self) -> None:
        """Stop every process group and wait until each process is stopped."""
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGSTOP)
        self.frozen = True
        # SIGSTOP lands asynchronously; wait so callers never see a half-frozen sandbox.
        give_up = time.monotonic() + 1.0
        for proc in self._procs:
            while time.monotonic() < give_up:
                state = _proc_state(proc.pid)
                if state is None or state in "TtZX":
                    break
                time.sleep(0.001)

    def thaw(self) -> bool:
        """Let every process group run again; whether it was frozen."""
        if not self.frozen:
            return False
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGCONT)
        self.frozen = False
        return True

    def _wait_settled(self) -> None:
        # Right after SIGCONT a thread that has not run yet still counts as having a signal
        # pending, so the kernel hands a process-wide SIGTERM to another thread, where a
        # main thread blocked in join() never sees it. Wait until the threads have run back
        # into their waits (bounded: a busy thread stays runnable).
        give_up = time.monotonic() + 0.1
        for proc in self._procs:
            while time.monotonic() < give_up:
                states = [_proc_state(proc.pid, task) for task in _tasks(proc.pid)]
                if all(state is None or state in "SDZX" for state in states):
                    break
                time.sleep(0.001)

    def shutdown(self, reason: str) -> None:
        """Run the shutdown phase (``spindown``, ``timeout`` or ``failure``), then reap all.

        Idempotent; a second caller waits for the first to finish.
        """
        with self.cond:
            if self._shutting:
                self.cond.wait_for(lambda: self._closed)
                return
            self._shutting = True
            self.extensions.shutting_down = True
            external = self.extensions.has(external=True)
            internal = self.extensions.has(external=False)
            thawed = self.thaw()
        if thawed:
            self._wait_settled()
        try:
            self._shutdown_phase(reason, external, internal)
        finally:
            with self.cond:
                self._closed = True
                self.runtime.close()
                self.extensions.close()
            self._kill_all()
            for proc in self._procs:
                proc.wait()
            for watcher in self._watchers:
                watcher.join()
            self._stop_server()

    def _shutdown_phase(self, reason: str, external: bool, internal: bool) -> None:
        start, began = time.monotonic(), time.time()
        limit = SHUTDOWN_LIMIT if external else RUNTIME_SHARE_INTERNAL
        share = RUNTIME_SHARE_INTERNAL if internal or not external else RUNTIME_SHARE
        if self._runtime is not None and self.runtime_exit is None:
            if reason == "timeout":
                _signal_group(self._runtime.pid, signal.SIGKILL)
            else:
                _signal_group(self._runtime.pid, signal.SIGTERM)
                with self.cond:
                    self.cond.wait_for(lambda: self.runtime_exit is not None, share)
                _signal_group(self._runtime.pid, signal.SIGKILL)
        if not external:
            return
        with self.cond:
            # Extensions get their turn once the runtime is gone (reaped, not a zombie).
            self.cond.wait_for(
                lambda: self.runtime_exit is not None, start + limit - time.monotonic()
            )
            targets = self.extensions.dispatch_shutdown(reason, int((began + limit) * 1000))
            self.cond.wait_for(
                lambda: self.extensions.done_with(targets), start + limit - time.monotonic()
            )

    def _kill_all(self) -> None:
        # Also after a clean exit: a process may have left children in its group.
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGCONT)
            _signal_group(proc.pid, signal.SIGKILL)

    def _stop_server(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server_thread.join()
