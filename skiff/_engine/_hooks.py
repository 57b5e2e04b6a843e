"""Running a run's state hooks, with Prefect's arguments and log lines (both engines)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from skiff._engine._base import hook_name

if TYPE_CHECKING:
    from skiff._engine._logging import RunLogger
    from skiff._engine._states import State

__all__ = ["hooks_for", "run_hooks"]


def hooks_for(options: dict[str, Any], state: State) -> Any:
    """The hooks a state calls, by Prefect's rules (the first that applies)."""
    if state.is_failed():
        return options.get("on_failure")
    if state.is_completed():
        return options.get("on_completion")
    if state.type.value == "CANCELLING":
        return options.get("on_cancellation")
    if state.is_crashed():
        return options.get("on_crashed")
    if state.is_running():
        return options.get("on_running")
    return None


def run_hooks(
    logger: RunLogger,
    options: dict[str, Any],
    owner: Any,
    run: Any,
    state: State,
    *,
    send_logs: bool = True,
) -> None:
    """Call each hook ``hook(owner, run, state)``; a failing hook is logged, never raised."""
    for hook in hooks_for(options, state) or ():
        name = hook_name(hook)
        logger.log(
            logging.INFO,
            f"Running hook {name!r} in response to entering state {state.name!r}",
            send_to_api=send_logs,
        )
        try:
            outcome = hook(owner, run, state)
            if asyncio.iscoroutine(outcome):
                asyncio.run(outcome)
        except Exception:
            logger.log(
                logging.ERROR,
                f"An error was encountered while running hook {name!r}",
                exc_info=True,
                send_to_api=send_logs,
            )
        else:
            logger.log(
                logging.INFO, f"Hook {name!r} finished running successfully", send_to_api=send_logs
            )
