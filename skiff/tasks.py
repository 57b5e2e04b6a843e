"""``@task``, :class:`Task` and the retry and cache helpers, as ``prefect.tasks`` has them."""

from __future__ import annotations

from skiff._engine._backoff import exponential_backoff
from skiff._engine._cache import task_input_hash
from skiff._engine._tasks import Task, task

__all__ = ["Task", "exponential_backoff", "task", "task_input_hash"]
