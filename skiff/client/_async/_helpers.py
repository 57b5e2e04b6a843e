"""Hand-written helpers the generated resource classes inherit: paging, waiting, running.

The generator (``scripts/generate.py``) knows these mixins by name:

* :class:`AsyncPagingHelpers` (every resource): the paging loops behind the generated
  ``iter_filter`` (offset and limit) and ``iter_paginate`` (page and pages) methods;
* :class:`AsyncFlowRunsHelpers`: ``client.flow_runs.wait(id)``;
* :class:`AsyncDeploymentsHelpers`: ``client.deployments.run("flow/deployment")``;
* :class:`AsyncEventsHelpers`: ``client.events.iter_filter(...)`` over page tokens;
* :class:`AsyncEventStreams`, :class:`AsyncLogStreams` (from ``_stream_api``): ``subscribe``,
  ``emit`` and ``emit_event``;
* the look-ups by name (from ``_lookups``): ``block_schemas.read_latest``,
  ``block_documents.read_by_name``, ``automations.read_by_name``,
  ``concurrency_limits_v2.upsert``, ``variables.get``.

The argument checks and the schemaless decoder the generated methods call are pure, so
they live in :mod:`skiff.client._base`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from msgspec import UNSET, UnsetType

from skiff._exceptions import ValidationError, WaitTimeoutError
from skiff.client._async._lookups import (
    AsyncAutomationsLookups,
    AsyncBlockDocumentsLookups,
    AsyncBlockSchemasLookups,
    AsyncConcurrencyLimitsV2Lookups,
    AsyncVariablesLookups,
)
from skiff.client._async._resource import AsyncAPIResource
from skiff.client._async._stream_api import AsyncEventStreams, AsyncLogStreams
from skiff.client._base import decode, path_param
from skiff.client._generated import models
from skiff.client._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FINAL_STATE_TYPES",
    "AsyncAutomationsLookups",
    "AsyncBlockDocumentsLookups",
    "AsyncBlockSchemasLookups",
    "AsyncConcurrencyLimitsV2Lookups",
    "AsyncDeploymentsHelpers",
    "AsyncEventStreams",
    "AsyncEventsHelpers",
    "AsyncFlowRunsHelpers",
    "AsyncLogStreams",
    "AsyncPagingHelpers",
    "AsyncVariablesLookups",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# A run in one of these states will not change again on its own.
FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


class _Page(Protocol[T_co]):
    """What the ``paginate`` routes answer: one page of results and the page count."""

    @property
    def results(self) -> Sequence[T_co]: ...

    @property
    def pages(self) -> int: ...


class _FetchOffset(Protocol[T_co]):
    async def __call__(self, offset: int, limit: int) -> Sequence[T_co]: ...


class _FetchPage(Protocol[T_co]):
    async def __call__(self, page: int, limit: int) -> _Page[T_co]: ...


class AsyncPagingHelpers(AsyncAPIResource):
    """Paging loops; the generated ``iter_filter``/``iter_paginate`` supply typed fetchers."""

    async def _iter_offset(self, fetch: _FetchOffset[T], page_size: int) -> AsyncIterator[T]:
        offset = 0
        while True:
            items = await fetch(offset, page_size)
            for item in items:
                yield item
            # A short page is the last one; the server never pads.
            if len(items) < page_size:
                return
            offset += len(items)

    async def _iter_pages(self, fetch: _FetchPage[T], page_size: int) -> AsyncIterator[T]:
        page = 1
        while True:
            result = await fetch(page, page_size)
            for item in result.results:
                yield item
            if page >= result.pages or not result.results:
                return
            page += 1


class _Requests(Protocol):
    """Anything that can send a request the way resources do."""

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response: ...


async def _wait_for_flow_run(
    resource: _Requests,
    flow_run_id: uuid.UUID | str,
    timeout: float | None,
    poll_interval: float,
) -> models.FlowRunResponse:
    deadline = None if timeout is None else monotonic() + timeout
    path = f"/flow_runs/{path_param(flow_run_id)}"
    while True:
        run: models.FlowRunResponse = decode(
            await resource._request("GET", path), models.FlowRunResponse
        )
        state_type = run.state_type if isinstance(run.state_type, str) else None
        if state_type in FINAL_STATE_TYPES:
            return run
        if deadline is not None and monotonic() >= deadline:
            raise WaitTimeoutError(
                f"flow run {flow_run_id} is still {state_type or 'without a state'} "
                f"after {timeout} s",
                flow_run=run,
            )
        pause = poll_interval
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - monotonic()))
        await asyncio.sleep(pause)


class AsyncFlowRunsHelpers(AsyncAPIResource):
    """``client.flow_runs.wait``."""

    async def wait(
        self,
        id: uuid.UUID | str,
        *,
        timeout: float | None = None,
        poll_interval: float = 2.0,
    ) -> models.FlowRunResponse:
        """Poll the flow run until its state type is final (COMPLETED, FAILED, CANCELLED,
        CRASHED) and return it.

        ``timeout`` is the whole wait in seconds (None: no limit); when it passes,
        :class:`~skiff.WaitTimeoutError` is raised carrying the last run seen.
        """
        return await _wait_for_flow_run(self, id, timeout, poll_interval)


class _DeploymentsApi(_Requests, Protocol):
    """The generated deployment methods ``run`` is built on."""

    async def read_by_name(
        self,
        flow_name: str,
        deployment_name: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> models.DeploymentResponse: ...

    async def create_flow_run(
        self,
        id: uuid.UUID | str,
        *,
        name: str | UnsetType = UNSET,
        parameters: dict[str, Any] | UnsetType = UNSET,
        tags: list[str] | UnsetType = UNSET,
        idempotency_key: str | UnsetType | None = UNSET,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> models.FlowRunResponse: ...


class AsyncDeploymentsHelpers(AsyncAPIResource):
    """``client.deployments.run``."""

    async def run(
        self: _DeploymentsApi,
        name: str,
        *,
        parameters: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        flow_run_name: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = 2.0,
    ) -> models.FlowRunResponse:
        """Start a run of the deployment ``"flow-name/deployment-name"`` and return it.

        With ``wait=True`` it then polls until the run is final (see ``flow_runs.wait``),
        raising :class:`~skiff.WaitTimeoutError` after ``timeout`` seconds.
        """
        flow_name, sep, deployment_name = name.partition("/")
        if not sep or not flow_name or not deployment_name:
            raise ValidationError(f"deployments.run(): {name!r} is not 'flow-name/deployment-name'")
        deployment = await self.read_by_name(flow_name, deployment_name)
        run = await self.create_flow_run(
            deployment.id,
            parameters=UNSET if parameters is None else parameters,
            tags=UNSET if tags is None else tags,
            name=UNSET if flow_run_name is None else flow_run_name,
            idempotency_key=UNSET if idempotency_key is None else idempotency_key,
        )
        if not wait:
            return run
        return await _wait_for_flow_run(self, run.id, timeout, poll_interval)


class _EventsApi(Protocol):
    """The generated event methods ``iter_filter`` is built on."""

    async def filter(
        self,
        *,
        filter: models.EventFilter | UnsetType | None = UNSET,
        limit: int | UnsetType = UNSET,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> models.EventPage: ...

    async def filter_next(
        self, *, page_token: str, timeout: float | NotGiven | None = NOT_GIVEN
    ) -> models.EventPage: ...


def _page_token(next_page: str) -> str | None:
    tokens = parse_qs(urlsplit(next_page).query).get("page-token")
    return tokens[0] if tokens else None


class AsyncEventsHelpers(AsyncAPIResource):
    """``client.events.iter_filter``."""

    async def iter_filter(
        self: _EventsApi,
        *,
        filter: models.EventFilter | UnsetType | None = UNSET,
        limit: int | UnsetType = UNSET,
        timeout: float | NotGiven | None = NOT_GIVEN,
    ) -> AsyncIterator[models.ReceivedEvent]:
        """Every event matching ``filter``, following the server's ``next_page`` tokens.

        ``limit`` is the page size (the server allows at most 50).
        """
        page = await self.filter(filter=filter, limit=limit, timeout=timeout)
        while True:
            for event in page.events:
                yield event
            token = _page_token(page.next_page) if page.next_page else None
            if not token or not page.events:
                return
            page = await self.filter_next(page_token=token, timeout=timeout)
