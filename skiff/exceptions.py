"""The errors a flow can meet, with Prefect's names (``prefect.exceptions``).

All are :class:`~skiff.SkiffError`s; see ``skiff._exceptions`` for the whole tree.
"""

from __future__ import annotations

from skiff._engine._errors import (
    CancelledRun,
    CrashedRun,
    FailedRun,
    MissingContextError,
    NotSupportedError,
    UnfinishedRun,
    UpstreamTaskError,
)
from skiff._engine._parameters import ParameterTypeError, SignatureMismatchError
from skiff._engine._results import (
    CorruptRecordError,
    PickleNotAllowedError,
    ResultRecordError,
    ResultStorageError,
    ResultWriteError,
    UnknownSerializerError,
)
from skiff._engine._timeouts import FlowRunTimeoutError, TaskRunTimeoutError
from skiff._exceptions import SkiffError

PrefectException = SkiffError

__all__ = [
    "CancelledRun",
    "CorruptRecordError",
    "CrashedRun",
    "FailedRun",
    "FlowRunTimeoutError",
    "MissingContextError",
    "NotSupportedError",
    "ParameterTypeError",
    "PickleNotAllowedError",
    "PrefectException",
    "ResultRecordError",
    "ResultStorageError",
    "ResultWriteError",
    "SignatureMismatchError",
    "TaskRunTimeoutError",
    "UnfinishedRun",
    "UnknownSerializerError",
    "UpstreamTaskError",
]
