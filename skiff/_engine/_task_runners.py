"""Task runners: where submitted task runs execute (Prefect's ``ThreadPoolTaskRunner``)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadPoolTaskRunner", "default_runner"]


class ThreadPoolTaskRunner:
    """Runs submitted task runs on a thread pool of ``max_workers`` threads.

    A flow gets its own copy (:meth:`duplicate`) for each run; the pool starts with the
    first submit and is shut down when the run ends, after its task runs finish. An async
    task runs in its worker thread in an event loop of its own, as in Prefect.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            from skiff._exceptions import ValidationError

            raise ValidationError(
                f"ThreadPoolTaskRunner(max_workers={max_workers!r}): give a whole number >= 1"
            )
        self.max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def duplicate(self) -> ThreadPoolTaskRunner:
        """A fresh runner with the same settings (one per flow run)."""
        return type(self)(self.max_workers)

    def submit_call(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` on the pool."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix="skiff-task"
                    )
                pool = self._pool
        return pool.submit(fn, *args)

    def shutdown(self) -> None:
        """Wait for the submitted runs and stop the pool's threads."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> ThreadPoolTaskRunner:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers!r})"


_default: ThreadPoolTaskRunner | None = None


def default_runner() -> ThreadPoolTaskRunner:
    """The process-wide runner for tasks submitted outside any flow."""
    global _default
    if _default is None:
        _default = ThreadPoolTaskRunner()
    return _default
