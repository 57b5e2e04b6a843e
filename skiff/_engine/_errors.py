"""The runtime's errors, under :class:`~skiff.SkiffError`, with Prefect's names.

``FailedRun``, ``CrashedRun``, ``CancelledRun``, ``UnfinishedRun``, ``UpstreamTaskError``
and ``MissingContextError`` are what Prefect raises in the same places, so ``except``
clauses ported from Prefect keep working (``skiff.exceptions`` exports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skiff._exceptions import SkiffError

if TYPE_CHECKING:
    from skiff._engine._states import State

__all__ = [
    "CancelledRun",
    "CrashedRun",
    "FailedRun",
    "FlowRunAborted",
    "FlowRunCancelled",
    "FlowRunRejected",
    "MissingContextError",
    "NotSupportedError",
    "OrchestrationError",
    "UnfinishedRun",
    "UpstreamTaskError",
]


class OrchestrationError(SkiffError):
    """The server's orchestration stopped a flow run before its body ran; ``state`` says why."""

    def __init__(self, message: str, state: State | None = None) -> None:
        super().__init__(message)
        self.state = state


class FlowRunAborted(OrchestrationError):
    """The server answered ABORT (for example the run was cancelled or already finished)."""


class FlowRunCancelled(BaseException):
    """Raised where a task would start in a flow run the server has set CANCELLING.

    A BaseException, as Prefect's termination signals are: user code's ``except Exception``
    does not keep a cancelled flow running. The flow engine ends the run Cancelled.
    """


class FlowRunRejected(OrchestrationError):
    """The server answered REJECT; ``state`` is the state it kept instead."""


class FailedRun(SkiffError):
    """``state.result()`` of a failed run that carries no exception of its own."""


class CrashedRun(SkiffError):
    """``state.result()`` of a crashed run that carries no exception of its own."""


class CancelledRun(SkiffError):
    """``state.result()`` of a cancelled run."""


class UnfinishedRun(SkiffError):
    """``state.result()`` of a run that has not reached a final state."""


class UpstreamTaskError(SkiffError):
    """A task's upstream (an argument or ``wait_for``) did not complete; it stays NotReady."""


class MissingContextError(SkiffError, RuntimeError):
    """A run-only call (``get_run_logger()``, ...) was made outside a flow or task run."""


class NotSupportedError(SkiffError, NotImplementedError):
    """A Prefect feature skiff does not implement (serve, deploy, pause, transactions)."""
