"""Run loggers, as ``prefect.logging`` has them: ``get_run_logger`` and friends."""

from __future__ import annotations

from skiff._engine._logging import RunLogger, get_run_logger, patch_print

__all__ = ["RunLogger", "get_run_logger", "patch_print"]
