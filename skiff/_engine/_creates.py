"""Flow-run creates: ``POST /flows/`` (once per flow name), ``POST /flow_runs/``, and recovery.

A create whose answer was lost (a reset or a timeout after sending) may have made the
run anyway. Every create body carries a marker in its context (``CREATE_MARKER``), so
before sending it again the run with that marker is looked for, and answered with when
found: a retried create never makes a second run.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skiff._engine._delivery import until
from skiff._engine._items import CreateSpec, Wait
from skiff._engine._wire import CREATE_MARKER
from skiff._exceptions import APIConnectionError, ConflictError
from skiff.client._base import decode, encode

if TYPE_CHECKING:
    import httpx

    from skiff._engine._delivery import Delivery

__all__ = ["Creates"]

MAX_ORDERING_WAITS = 10  # a create answered 409 while its parent lands is retried this often
# How far back a create whose answer was lost is looked for.
RECOVER_WINDOW = datetime.timedelta(hours=6)


class Creates:
    """Flow-run creates through one reporter's requests; ``flow_ids`` maps flow names to ids."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery
        self.flow_ids: dict[str, str] = {}

    def create_flow_run(
        self,
        flow_name: str,
        body: dict[str, Any],
        *,
        deadline: float | None = None,
        recover: bool = False,
    ) -> httpx.Response:
        """``POST /flows/`` (once per name) and ``POST /flow_runs/``, without retries.

        With ``deadline`` (a :func:`time.monotonic` time) the requests together end by it.
        ``recover``: an earlier attempt may have created the run, so look for the run
        carrying this body's create marker first, and answer with it if it is there.
        """
        request = self._delivery.request
        flow_id = self.flow_ids.get(flow_name)
        if flow_id is None:
            reply = request(
                "POST", "/flows/", json={"name": flow_name}, retry=False, **until(deadline)
            )
            flow_id = self.flow_ids[flow_name] = decode(reply, Any)["id"]
        if recover:
            found = self._find_created(flow_id, body, deadline)
            if found is not None:
                return found
        return request(
            "POST",
            "/flow_runs/",
            json={**body, "flow_id": flow_id},
            retry=False,
            **until(deadline),
        )

    def creator(self, spec: CreateSpec) -> Callable[[dict[str, Any]], None]:
        """A ``send`` for :meth:`~skiff._engine._delivery.Delivery.retrying` that creates ``spec``.

        It resolves the spec's run with the answer, remembers when a lost answer may mean
        the run exists, and waits (:class:`~skiff._engine._items.Wait`) on a 409 while a
        child run's parent task run has not landed yet.
        """
        waits = [0]

        def create(timeout: dict[str, Any]) -> None:
            deadline = time.monotonic() + timeout["timeout"] if timeout else None
            try:
                reply = self.create_flow_run(
                    spec.flow_name, spec.body, deadline=deadline, recover=spec.run.maybe_created
                )
            except APIConnectionError as exc:
                spec.run.maybe_created = spec.run.maybe_created or exc.maybe_processed
                raise
            except ConflictError:
                # The parent task run this child points at may not have landed yet.
                waits[0] += 1
                if "parent_task_run_id" in spec.body and waits[0] <= MAX_ORDERING_WAITS:
                    raise Wait(1.0) from None
                raise
            data = decode(reply, Any)
            spec.run.resolve(data["id"], data.get("name"), self.flow_ids.get(spec.flow_name))
            if spec.on_created is not None:
                spec.on_created(reply.status_code, data)

        return create

    def _find_created(
        self, flow_id: str, body: dict[str, Any], deadline: float | None
    ) -> httpx.Response | None:
        import httpx

        marker = (body.get("context") or {}).get(CREATE_MARKER)
        if marker is None:
            return None
        since = datetime.datetime.now(datetime.timezone.utc) - RECOVER_WINDOW
        reply = self._delivery.request(
            "POST",
            "/flow_runs/filter",
            json={
                "flows": {"id": {"any_": [flow_id]}},
                "flow_runs": {"expected_start_time": {"after_": since.isoformat()}},
                "sort": "EXPECTED_START_TIME_DESC",
                "limit": 200,
            },
            retry=False,
            **until(deadline),
        )
        for run in decode(reply, list[dict[str, Any]]):
            if (run.get("context") or {}).get(CREATE_MARKER) == marker:
                # Our own earlier attempt landed: answer as its create would have (201).
                return httpx.Response(201, content=encode(run), request=reply.request)
        return None
