"""Run loggers: stdlib logging whose records also go to the server as run logs.

:func:`get_run_logger` returns a :class:`logging.LoggerAdapter` over the ``skiff.flow_runs``
or ``skiff.task_runs`` logger. Each record at INFO or above (the loggers' level unless you
set another) is buffered for ``POST /logs/`` with the run ids, and then handled by stdlib
logging as usual. ``log_prints=True`` sends ``print`` output the same way: ``builtins.print``
is wrapped once, and the wrapper only logs while such a run is active in this context.
"""

from __future__ import annotations

import builtins
import io
import logging
from typing import TYPE_CHECKING, Any

from skiff._engine import _context
from skiff._engine._items import DEBUG_LOG, INFO_LOG, LOG_SIZE, WARNING_LOG, Item, RunRef, run_id

if TYPE_CHECKING:
    from collections.abc import MutableMapping

__all__ = ["RunLogger", "get_run_logger", "install_print_hook"]

_flow_logger = logging.getLogger("skiff.flow_runs")
_task_logger = logging.getLogger("skiff.task_runs")
for _logger in (_flow_logger, _task_logger):
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)


def _log_class(level: int) -> int:
    if level < logging.INFO:
        return DEBUG_LOG
    if level < logging.WARNING:
        return INFO_LOG
    return WARNING_LOG


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one flow or task run; its records are also sent to the server."""

    def __init__(
        self, logger: logging.Logger, flow: _context.FlowRunContext, task_run_id: str | None
    ) -> None:
        super().__init__(logger, {})
        self._flow = flow
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
        record = self.logger.makeRecord(
            self.logger.name, level, "(run)", 0, msg, args, None, func=None, extra=None
        )
        message = record.getMessage()
        if kwargs.get("exc_info"):
            formatter = logging.Formatter()
            exc_info = kwargs["exc_info"]
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                import sys

                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                message = message + "\n" + formatter.formatException(exc_info)
        send_log(self._flow, self._task_run_id, self.logger.name, level, message, record.created)
        self.logger.log(level, msg, *args, **kwargs)


def send_log(
    flow: _context.FlowRunContext,
    task_run_id: str | None,
    name: str,
    level: int,
    message: str,
    created: float,
) -> None:
    """Buffer one log line for the server (no-op when the run does not report)."""
    reporter = flow.reporter
    if reporter is None:
        return
    body = _LogBody(name, level, message, created, flow.run, task_run_id)
    reporter.put(Item("log", _log_class(level), body, LOG_SIZE + len(message)))


class _LogBody:
    """A buffered log line; called when sent. A slotted object costs half of a closure."""

    __slots__ = ("created", "level", "message", "name", "run", "task_run_id")

    def __init__(
        self,
        name: str,
        level: int,
        message: str,
        created: float,
        run: RunRef,
        task_run_id: str | None,
    ) -> None:
        self.name = name
        self.level = level
        self.message = message
        self.created = created
        self.run = run
        self.task_run_id = task_run_id

    def __call__(self) -> dict[str, Any]:
        import datetime

        stamp = datetime.datetime.fromtimestamp(self.created, datetime.timezone.utc)
        return {
            "name": self.name,
            "level": self.level,
            "message": self.message,
            "timestamp": stamp.isoformat(),
            "flow_run_id": run_id(self.run),
            "task_run_id": self.task_run_id,
        }


def get_run_logger() -> RunLogger:
    """The logger of the current task run, else of the current flow run.

    Raises :class:`RuntimeError` outside a flow, like Prefect's ``MissingContextError``.
    """
    task = _context.current_task()
    flow = _context.current_flow()
    if flow is None:
        raise RuntimeError("get_run_logger() was called outside a flow or task run")
    if task is not None:
        return RunLogger(_task_logger, flow, task.task_run_id)
    return RunLogger(_flow_logger, flow, None)


_original_print = builtins.print
_installed = False


def _print(*args: Any, **kwargs: Any) -> None:
    flow = _context.current_flow()
    target = kwargs.get("file")
    if flow is None or not _context.log_prints_active() or target not in (None, _sys_stdout()):
        _original_print(*args, **kwargs)
        return
    buffer = io.StringIO()
    _original_print(*args, **{**kwargs, "file": buffer})
    task = _context.current_task()
    logger = _task_logger if task is not None else _flow_logger
    import time

    send_log(
        flow,
        task.task_run_id if task else None,
        logger.name,
        logging.INFO,
        buffer.getvalue().rstrip("\n"),
        time.time(),
    )
    _original_print(*args, **kwargs)


def _sys_stdout() -> Any:
    import sys

    return sys.stdout


def install_print_hook() -> None:
    """Wrap ``builtins.print`` once, so runs with ``log_prints=True`` send their prints."""
    global _installed
    if not _installed:
        builtins.print = _print
        _installed = True
