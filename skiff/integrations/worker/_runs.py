"""One flow run's side of the worker protocol: lock, configure, dispatch, record, crash.

:class:`RunDriver` holds what a worker shares with its runs (the client, the pool's
template, the dispatcher) and :meth:`RunDriver.submit` takes one scheduled run from
Scheduled to submitted, following Prefect's worker: read the deployment (gone: cancel
the run), propose PENDING (anything but an accepted Pending means another worker has it),
resolve the job variables, invoke, PATCH ``infrastructure_pid`` at once; a failure past
the lock ends the run Crashed with a message naming the fix.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skiff._engine._live_runs import HEARTBEAT_EVENT
from skiff._exceptions import APIError, NotFoundError
from skiff.client import AsyncClient
from skiff.integrations.worker._dispatch import Dispatcher, DispatchError, DispatchRequest
from skiff.integrations.worker._jobs import (
    check_variables,
    merged_variables,
    render,
    resolve_blocks,
)

__all__ = ["FINAL_TYPES", "RunDriver", "Submitted"]

logger = logging.getLogger("skiff.worker")

_DEPLOYMENT_TTL = 2.0

FINAL_TYPES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
"""State types after which the worker stops watching a run."""


@dataclass
class Submitted:
    """A run this worker handed to a function, watched until it runs (or must crash)."""

    flow_run_id: str
    infrastructure_pid: str
    config: Mapping[str, Any]
    submitted_at: float  # time.monotonic()
    start_timeout: float
    heartbeat_timeout: float
    gone_since: float | None = None
    heard_at: float | None = None  # time.time() of its last state change or heartbeat


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


class RunDriver:
    """The per-run steps of the protocol, for one worker."""

    def __init__(
        self,
        client: AsyncClient,
        dispatcher: Dispatcher,
        worker_name: str,
        *,
        default_start_timeout: float,
        default_heartbeat_timeout: float,
    ) -> None:
        self.client = client
        self.dispatcher = dispatcher
        self.worker_name = worker_name
        self.default_start_timeout = default_start_timeout
        self.default_heartbeat_timeout = default_heartbeat_timeout
        self.template: Mapping[str, Any] = {}
        self._deployments: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._flow_names: dict[str, str | None] = {}

    # ------------------------------------------------------------------ states and logs
    async def propose(
        self, run_id: str, state: Mapping[str, Any], *, force: bool = False
    ) -> tuple[str, Mapping[str, Any]]:
        """Propose ``state``; the server's status and the state the run is in after it."""
        reply = await self.client.request(
            "POST", f"/flow_runs/{run_id}/set_state", json={"state": dict(state), "force": force}
        )
        body = reply.json()
        return body.get("status", ""), body.get("state") or {}

    async def _ran_meanwhile(self, run: Mapping[str, Any], pending_id: str) -> bool:
        """Whether the run ran after the poll saw it (then our Pending is undone).

        The server refuses Pending over Pending or Running, but not over a final state: a
        poll answer that went stale while another worker's function ran the run to the end
        would start it again. ``run_count`` grows at each RUNNING, so it tells.
        """
        run_id = str(run["id"])
        now = (await self.client.request("GET", f"/flow_runs/{run_id}")).json()
        if int(now.get("run_count") or 0) <= int(run.get("run_count") or 0):
            return False
        history = (
            await self.client.request("GET", "/flow_run_states/", params={"flow_run_id": run_id})
        ).json()
        before = [s for s in history if str(s["id"]) != pending_id]
        if before:
            last = max(before, key=lambda s: s["timestamp"])
            keep = ("type", "name", "message", "data", "state_details")
            await self.propose(run_id, {k: last[k] for k in keep if k in last}, force=True)
        logger.info("flow run %s ran meanwhile (another worker): not started again", run_id)
        return True

    async def log(self, run_id: str, *messages: str, level: int = logging.INFO) -> None:
        """Lines in the run's logs (as Prefect's worker writes), and in the worker's."""
        entries = []
        for message in messages:
            logger.log(level, "flow run %s: %s", run_id, message)
            entries.append(
                {
                    "name": "skiff.worker",
                    "level": level,
                    "message": message,
                    "timestamp": _now(),
                    "flow_run_id": run_id,
                }
            )
        try:
            await self.client.request("POST", "/logs/", json=entries)
        except APIError as exc:
            logger.debug("could not write a log line for flow run %s: %s", run_id, exc)

    async def crash(self, run_id: str, message: str) -> None:
        """End the run Crashed with ``message`` (not forced: a run that finished stays so)."""
        await self.log(run_id, f"marking the flow run Crashed: {message}", level=logging.ERROR)
        try:
            await self.propose(run_id, {"type": "CRASHED", "name": "Crashed", "message": message})
        except APIError as exc:
            logger.error("could not mark flow run %s Crashed: %s", run_id, exc)

    async def cancel(self, run_id: str, message: str) -> None:
        """End the run Cancelled with ``message``."""
        await self.log(run_id, message)
        try:
            await self.propose(
                run_id, {"type": "CANCELLED", "name": "Cancelled", "message": message}
            )
        except APIError as exc:
            logger.error("could not mark flow run %s Cancelled: %s", run_id, exc)

    async def last_heartbeat(self, run_id: str, *, since: float) -> float | None:
        """When the run's latest heartbeat since ``since`` (a time.time()) occurred, if any.

        (The server persists events in batches, about 5 s apart: a timeout must allow it.)
        """
        now = _dt.datetime.now(_dt.timezone.utc)
        occurred = {
            "since": _dt.datetime.fromtimestamp(since, _dt.timezone.utc).isoformat(),
            "until": (now + _dt.timedelta(minutes=5)).isoformat(),  # the function's clock may lead
        }
        event_filter = {
            "occurred": occurred,
            "event": {"name": [HEARTBEAT_EVENT]},
            "resource": {"id": [f"prefect.flow-run.{run_id}"]},
            "order": "DESC",
        }
        reply = await self.client.request(
            "POST", "/events/filter", json={"filter": event_filter, "limit": 1}
        )
        events = reply.json().get("events") or []
        if not events:
            return None
        stamp = str(events[0]["occurred"]).replace("Z", "+00:00")
        return _dt.datetime.fromisoformat(stamp).timestamp()

    # ------------------------------------------------------------------ submission
    async def submit(self, run: Mapping[str, Any]) -> Submitted | None:
        """Take one scheduled run to its function; the watch record, or None when skipped."""
        run_id = str(run["id"])
        deployment: Mapping[str, Any] = {}
        if run.get("deployment_id"):
            try:
                deployment = await self._deployment(str(run["deployment_id"]))
            except NotFoundError:
                await self.cancel(
                    run_id, f"Deployment {run['deployment_id']} no longer exists, cancelled run."
                )
                return None
        status, pending = await self.propose(run_id, {"type": "PENDING", "name": "Pending"})
        if status != "ACCEPT" or pending.get("type") != "PENDING":
            logger.debug("flow run %s not locked (%s): skipped", run_id, status)
            return None
        if await self._ran_meanwhile(run, str(pending.get("id"))):
            return None
        try:
            config = await self.configure(deployment, run)
        except DispatchError as exc:
            await self.crash(run_id, str(exc))
            return None
        submitting = f"Worker {self.worker_name!r} submitting flow run {run_id!r}"
        request = DispatchRequest(
            flow_run_id=run_id,
            flow_run_name=str(run.get("name") or ""),
            deployment_id=str(run["deployment_id"]) if run.get("deployment_id") else None,
            flow_name=await self._flow_name(str(run["flow_id"])) if run.get("flow_id") else None,
            payload={"flow_run_id": run_id},
            env={**(config.get("env") or {}), "PREFECT__FLOW_RUN_ID": run_id},
        )
        try:
            pid = await asyncio.to_thread(self.dispatcher.submit, request, config)
        except DispatchError as exc:
            await self.crash(run_id, str(exc))
            return None
        except Exception as exc:  # a dispatcher's bug must not stop the worker
            logger.exception("dispatcher %s failed on flow run %s", self.dispatcher.type, run_id)
            await self.crash(run_id, f"the {self.dispatcher.type} dispatcher failed: {exc!r}")
            return None
        try:
            await self.client.request(
                "PATCH", f"/flow_runs/{run_id}", json={"infrastructure_pid": pid}
            )
        except APIError as exc:
            logger.error("could not record infrastructure_pid %s on %s: %s", pid, run_id, exc)
        # Logged after the invocation, in one request: the function need not wait for it.
        await self.log(run_id, submitting, f"Flow run submitted to {self.dispatcher.type}: {pid}")
        timeout = config.get("start_timeout")
        silence = config.get("heartbeat_timeout")
        return Submitted(
            run_id,
            pid,
            config,
            time.monotonic(),
            float(timeout) if timeout is not None else self.default_start_timeout,
            float(silence) if silence is not None else self.default_heartbeat_timeout,
        )

    async def _deployment(self, deployment_id: str) -> Mapping[str, Any]:
        """The deployment, read at most once per ``_DEPLOYMENT_TTL`` s (a burst of its runs)."""
        cached = self._deployments.get(deployment_id)
        if cached is not None and time.monotonic() - cached[0] < _DEPLOYMENT_TTL:
            return cached[1]
        deployment = (await self.client.request("GET", f"/deployments/{deployment_id}")).json()
        self._deployments[deployment_id] = (time.monotonic(), deployment)
        return deployment  # type: ignore[no-any-return]

    async def _flow_name(self, flow_id: str) -> str | None:
        """The flow's name (read once per flow: names do not change)."""
        if flow_id not in self._flow_names:
            flow = (await self.client.request("GET", f"/flows/{flow_id}")).json()
            self._flow_names[flow_id] = flow.get("name")
        return self._flow_names[flow_id]

    async def configure(
        self, deployment: Mapping[str, Any], run: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The run's job configuration: variables merged, checked, blocks read, rendered."""
        template = self.template
        variables = merged_variables(
            template, deployment.get("job_variables"), run.get("job_variables")
        )
        check_variables(template, variables)
        variables = await resolve_blocks(variables, self._block_data)
        rendered = render(template.get("job_configuration") or {}, variables)
        return dict(rendered) if isinstance(rendered, dict) else {}

    async def _block_data(self, document_id: str) -> dict[str, Any]:
        from skiff.blocks._core import _decrypt_all, _encryption
        from skiff.client._types import NOT_GIVEN

        reply = await self.client.request(
            "GET", f"/block_documents/{document_id}", params={"include_secrets": "true"}
        )
        data = reply.json().get("data") or {}
        decrypted: dict[str, Any] = _decrypt_all(data, _encryption(NOT_GIVEN), "")
        return decrypted
