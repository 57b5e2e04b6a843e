"""The current task run, as module attributes (Prefect's ``prefect.runtime.task_run``).

``from skiff.runtime import task_run; task_run.name``. Outside a task run every attribute
is empty (None, ``[]``, ``{}``, 0); the API is never read.
``PREFECT__RUNTIME__TASK_RUN__<NAME>`` overrides an attribute, for tests.

Attributes: ``id``, ``tags``, ``name``, ``parameters`` (the call's Python values),
``run_count``, ``task_name``, ``api_url``, ``ui_url``. Ids are strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skiff.runtime import _accessors as _a


def __getattr__(name: str) -> Any:
    """The attribute ``name``: ``from skiff.runtime.task_run import id`` works too."""
    return _a.resolve(__name__, FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)


def get_id() -> str | None:
    """The task run's id."""
    task = _a.current_task()
    return None if task is None else _a.text(task.task_run.id)


def get_tags() -> list[str]:
    """The task run's tags."""
    task = _a.current_task()
    return [] if task is None else task.task_run.tags


def get_run_count() -> int:
    """How many times the task run has started (1 on the first attempt)."""
    task = _a.current_task()
    return 0 if task is None else task.task_run.run_count


def get_name() -> str | None:
    """The task run's name."""
    task = _a.current_task()
    return None if task is None else task.task_run.name


def get_task_name() -> str | None:
    """The task's name."""
    task = _a.current_task()
    return None if task is None else str(task.task.name)


def get_parameters() -> dict[str, Any]:
    """The parameters the task was called with."""
    task = _a.current_task()
    return {} if task is None else task.parameters


def get_task_run_api_url() -> str | None:
    """``{PREFECT_API_URL}/runs/task-run/{id}``; None without an API URL."""
    base, task_run_id = _a.api_url(), get_id()
    return None if base is None or task_run_id is None else f"{base}/runs/task-run/{task_run_id}"


def get_task_run_ui_url() -> str | None:
    """The task run's page in the UI; None without a UI or API URL."""
    base, task_run_id = _a.ui_url(), get_id()
    return None if base is None or task_run_id is None else f"{base}/runs/task-run/{task_run_id}"


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": get_tags,
    "name": get_name,
    "parameters": get_parameters,
    "run_count": get_run_count,
    "task_name": get_task_name,
    "api_url": get_task_run_api_url,
    "ui_url": get_task_run_ui_url,
}
# The attributes __getattr__ serves (module attributes of their own would shadow them).
__all__ = sorted(FIELDS)
