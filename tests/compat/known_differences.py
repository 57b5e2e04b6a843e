"""Programs whose skiff run differs from Prefect's today, each with the reason.

Each entry makes its test a strict xfail: when skiff changes so that a program becomes
identical, its test fails (XPASS) until the entry is removed here. A reason starting with
"fails:" is skiff's error (a missing module, name or keyword), and the test checks it: a
program that fails differently, or no longer fails, is a real failure until this list is
updated. The causes (after " -- ", or the whole reason) are ``harness.causes`` of the records
that differ; they depend a little on timing, so they are shown, not compared. Regenerate
with ``python scripts/compat.py --skiff`` (run the test to see each line of difference).

What remains is inherent to being another package: a timed-out task's traceback names
skiff's exception class, where Prefect's names its own and the internal CancelledError
that its cancel scope chains to it.
"""

from __future__ import annotations

KNOWN: dict[str, str] = {
    "async_retries_timeout": "timeout traceback differs: skiff logs 'skiff._engine._timeouts.TaskRunTimeoutError: Scope timed out after ... second(s).'; Prefect logs its internal 'prefect._internal.concurrency.cancellation.CancelledError', 'During handling of the above exception, another exception occurred:' and 'prefect.task_engine.TaskRunTimeoutError' (module paths of another package)",
    "task_timeout": "timeout traceback differs: skiff logs 'skiff._engine._timeouts.TaskRunTimeoutError: Scope timed out after ... second(s).'; Prefect logs its internal 'prefect._internal.concurrency.cancellation.CancelledError', 'During handling of the above exception, another exception occurred:' and 'prefect.task_engine.TaskRunTimeoutError' (module paths of another package)",
}
