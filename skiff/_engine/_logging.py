"""Run loggers: stdlib logging whose records also go to the server as run logs.

The loggers carry Prefect's names, ``prefect.flow_runs`` and ``prefect.task_runs``, so a
run's logs look the same in the UI whichever SDK wrote them; the engine's own lines
("Beginning flow run ...", "Finished in state ...") go through the same loggers.
:func:`get_run_logger` returns a :class:`RunLogger` for the current run. Each record at
INFO or above (the loggers' level unless you set another) is buffered for ``POST /logs/``
and handled by stdlib logging as usual.

``log_prints=True`` sends ``print`` output to the run's log instead of stdout, as
Prefect does: :func:`patch_print` swaps ``builtins.print`` only while such a run is
active, and puts the original back when the last one ends.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from skiff._engine import _context
from skiff._engine._errors import MissingContextError
from skiff._engine._items import DEBUG_LOG, INFO_LOG, LOG_SIZE, WARNING_LOG, Item, RunRef, run_id
from skiff._engine._wire import LogBody

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from skiff._engine._reporter import Reporter

__all__ = ["RunLogger", "flow_run_logger", "get_run_logger", "patch_print", "task_run_logger"]

FLOW_LOGGER = logging.getLogger("prefect.flow_runs")
TASK_LOGGER = logging.getLogger("prefect.task_runs")
for _logger in (FLOW_LOGGER, TASK_LOGGER):
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)

_formatter = logging.Formatter()


def _log_class(level: int) -> int:
    if level < logging.INFO:
        return DEBUG_LOG
    if level < logging.WARNING:
        return INFO_LOG
    return WARNING_LOG


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one flow or task run; its records are also sent to the server."""

    def __init__(
        self,
        logger: logging.Logger,
        reporter: Reporter | None,
        run: RunRef | None,
        task_run_id: str | None,
    ) -> None:
        super().__init__(logger, {})
        self._reporter = reporter
        self._run = run
        self._task_run_id = task_run_id

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Leave messages unchanged (the run ids travel with the report, not the text)."""
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log as stdlib does, and buffer the record for the server."""
        if not self.logger.isEnabledFor(level):
            return
        message = str(msg) % args if args else str(msg)
        exc_info = kwargs.get("exc_info")
        if exc_info:
            # As stdlib formats it, "NoneType: None" included when nothing is being handled.
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            kwargs["exc_info"] = exc_info
            message = message + "\n" + _formatter.formatException(exc_info)
        if self._reporter is not None and kwargs.pop("send_to_api", True):
            send_log(self._reporter, self._run, self._task_run_id, self.logger.name, level, message)
        kwargs.pop("send_to_api", None)
        if level >= logging.WARNING or self.logger.hasHandlers():
            # With no handler anywhere stdlib would drop an INFO record: skip building it.
            self.logger.log(level, msg, *args, **kwargs)

    def log_rendered(self, level: int, render: Callable[[], str]) -> None:
        """Log ``render()``; the server's copy is rendered when sent, once the run's name
        (given by the server's create) is known."""
        if not self.logger.isEnabledFor(level):
            return
        if self._reporter is not None:
            send_log(self._reporter, self._run, self._task_run_id, self.logger.name, level, render)
        if level >= logging.WARNING or self.logger.hasHandlers():
            self.logger.log(level, render())


def send_log(
    reporter: Reporter,
    run: RunRef | None,
    task_run_id: str | None,
    name: str,
    level: int,
    message: str | Callable[[], str],
) -> None:
    """Buffer one log line for the server (``message`` may be rendered when sent)."""
    body = _PendingLog(name, level, message, time.time(), run, task_run_id)
    size = LOG_SIZE + (len(message) if isinstance(message, str) else 100)
    reporter.put(Item("log", _log_class(level), body, size))


class _PendingLog:
    """A buffered log line, made into its body when sent (slotted: half a closure's size)."""

    __slots__ = ("created", "level", "message", "name", "run", "task_run_id")

    def __init__(
        self,
        name: str,
        level: int,
        message: str | Callable[[], str],
        created: float,
        run: RunRef | None,
        task_run_id: str | None,
    ) -> None:
        self.name = name
        self.level = level
        self.message = message
        self.created = created
        self.run = run
        self.task_run_id = task_run_id

    def __call__(self) -> LogBody:
        stamp = datetime.datetime.fromtimestamp(self.created, datetime.timezone.utc)
        return LogBody(
            name=self.name,
            level=self.level,
            message=self.message if isinstance(self.message, str) else self.message(),
            timestamp=stamp.isoformat(),
            flow_run_id=run_id(self.run),
            task_run_id=self.task_run_id,
        )


def flow_run_logger(flow: _context.FlowRunContext) -> RunLogger:
    """The ``prefect.flow_runs`` logger of a flow run."""
    return RunLogger(FLOW_LOGGER, flow.reporter, flow.run, None)


def task_run_logger(
    reporter: Reporter | None, flow: _context.FlowRunContext | None, task_run_id: str
) -> RunLogger:
    """The ``prefect.task_runs`` logger of a task run (``flow`` None: a standalone run)."""
    return RunLogger(TASK_LOGGER, reporter, flow.run if flow is not None else None, task_run_id)


def get_run_logger() -> RunLogger:
    """The logger of the current task run, else of the current flow run.

    Raises :class:`~skiff.exceptions.MissingContextError` outside a run, as Prefect does.
    """
    task = _context.current_task()
    if task is not None:
        return task_run_logger(task.reporter, task.flow, task.task_run_id)
    flow = _context.current_flow()
    if flow is None:
        raise MissingContextError(
            "There is no active flow or task run context: call get_run_logger() inside a"
            " @flow or @task"
        )
    return flow_run_logger(flow)


_original_print = builtins.print
_patches = 0
_patch_lock = threading.Lock()


def _print_as_log(*args: Any, **kwargs: Any) -> None:
    target = kwargs.get("file")
    if not _context.log_prints_active() or target not in (None, sys.stdout):
        _original_print(*args, **kwargs)
        return
    buffer = io.StringIO()
    _original_print(*args, **{**kwargs, "file": buffer})
    get_run_logger().info(buffer.getvalue().rstrip())


@contextlib.contextmanager
def patch_print() -> Iterator[None]:
    """While a ``log_prints`` run is active, ``print`` goes to the run's log."""
    global _patches
    with _patch_lock:
        _patches += 1
        builtins.print = _print_as_log
    try:
        yield
    finally:
        with _patch_lock:
            _patches -= 1
            if _patches == 0:
                builtins.print = _original_print
