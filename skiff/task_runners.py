"""Task runners, as ``prefect.task_runners`` has them (threads only)."""

from __future__ import annotations

from skiff._engine._task_runners import ThreadPoolTaskRunner

__all__ = ["ThreadPoolTaskRunner"]
