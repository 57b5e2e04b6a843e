"""Prefect names outside skiff's scope: each raises a clear error when used.

Serving flows is a later skiff issue (deploying is ``Flow.deploy``); pausing, suspending and
transactions are not planned. Importing these names works, so a ported module loads.
"""

from __future__ import annotations

from typing import Any, NoReturn

from skiff._engine._errors import NotSupportedError

__all__ = [
    "Transaction",
    "apause_flow_run",
    "aresume_flow_run",
    "aserve",
    "asuspend_flow_run",
    "deploy",
    "pause_flow_run",
    "resume_flow_run",
    "serve",
    "suspend_flow_run",
]


def _refuse(what: str, why: str) -> NoReturn:
    raise NotSupportedError(f"{what} is not supported by skiff: {why}")


_LATER = "serving and deploying flows comes in a later skiff release; use Prefect for it"
_NEVER = "pausing and suspending flow runs are out of skiff's scope"


def serve(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("serve()", _LATER)


async def aserve(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("aserve()", _LATER)


def deploy(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`); use ``Flow.deploy``."""
    _refuse(
        "deploy()",
        "it takes Prefect's RunnerDeployment objects; call flow.deploy(name, "
        "work_pool_name=...) for each flow, or run 'skiff deploy'",
    )


def pause_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("pause_flow_run()", _NEVER)


async def apause_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("apause_flow_run()", _NEVER)


def resume_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("resume_flow_run()", _NEVER)


async def aresume_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("aresume_flow_run()", _NEVER)


def suspend_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("suspend_flow_run()", _NEVER)


async def asuspend_flow_run(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Not supported (raises :class:`~skiff.exceptions.NotSupportedError`)."""
    _refuse("asuspend_flow_run()", _NEVER)


class Transaction:
    """Not supported: Prefect's transactions are out of skiff's scope."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        _refuse("Transaction", "transactions are out of skiff's scope")
