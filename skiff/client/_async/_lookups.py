"""Look-ups by name, under the names Prefect users know (mixed into the generated resources).

* ``client.block_schemas.read_latest(block_type)``: the newest schema of a block type
  (Prefect's ``get_most_recent_block_schema_for_block_type``);
* ``client.block_documents.read_by_name(name, block_type_slug)``: Prefect's
  ``read_block_document_by_name``, same argument order;
* ``client.automations.read_by_name(name)``: Prefect's ``read_automations_by_name``;
* ``client.concurrency_limits_v2.upsert(name, limit)``: Prefect's
  ``upsert_global_concurrency_limit_by_name``;
* ``client.variables.get(name, default)``: a variable's value, like ``Variable.get``.
"""

from __future__ import annotations

import uuid
from typing import Any

from msgspec import UNSET, UnsetType

from skiff._exceptions import NotFoundError, ValidationError
from skiff.client._async._resource import AsyncAPIResource
from skiff.client._base import check_body, decode, path_param
from skiff.client._generated import models
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = [
    "AsyncAutomationsLookups",
    "AsyncBlockDocumentsLookups",
    "AsyncBlockSchemasLookups",
    "AsyncConcurrencyLimitsV2Lookups",
    "AsyncVariablesLookups",
]

Timeout = float | NotGiven | None


def _name(label: str, argument: str, value: object, fix: str) -> str:
    """``value`` if it is a non-empty string, else a ValidationError naming ``fix``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"{label}(): `{argument}` must be a non-empty string, got {value!r}; {fix}"
        )
    return value


def _as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class AsyncBlockSchemasLookups(AsyncAPIResource):
    """``client.block_schemas.read_latest``."""

    async def read_latest(
        self, block_type: uuid.UUID | str, *, timeout: Timeout = NOT_GIVEN
    ) -> models.BlockSchema | None:
        """The most recently created schema of a block type, or None if it has none.

        ``block_type`` is the block type's id, or its slug (``"aws-credentials"``); an
        unknown slug raises :class:`~skiff.NotFoundError`.
        """
        label = "block_schemas.read_latest"
        type_id = _as_uuid(block_type)
        if type_id is None:
            slug = _name(label, "block_type", block_type, "pass a block type id or slug")
            response = await self._request(
                "GET", f"/block_types/slug/{path_param(slug)}", timeout=timeout
            )
            type_id = decode(response, models.BlockType).id
        body = check_body(
            label,
            {"block_schemas": {"block_type_id": {"any_": [str(type_id)]}}, "limit": 1},
            models.Body_read_block_schemas_block_schemas_filter_post,
        )
        response = await self._request("POST", "/block_schemas/filter", json=body, timeout=timeout)
        # The server answers newest first.
        schemas: list[models.BlockSchema] = decode(response, list[models.BlockSchema])
        return schemas[0] if schemas else None


class AsyncBlockDocumentsLookups(AsyncAPIResource):
    """``client.block_documents.read_by_name``."""

    async def read_by_name(
        self,
        name: str,
        block_type_slug: str,
        *,
        include_secrets: bool = True,
        timeout: Timeout = NOT_GIVEN,
    ) -> models.BlockDocument:
        """The block document ``name`` of the block type ``block_type_slug``.

        Prefect's argument order (``read_block_document_by_name(name, block_type_slug)``).
        ``include_secrets=False`` gets secret fields masked. A missing document raises
        :class:`~skiff.NotFoundError`.
        """
        label = "block_documents.read_by_name"
        name = _name(label, "name", name, "pass the document's name, e.g. 'my-creds'")
        slug = _name(
            label,
            "block_type_slug",
            block_type_slug,
            "pass the block type's slug, e.g. 'aws-credentials' (arguments: name, then slug)",
        )
        if not isinstance(include_secrets, bool):
            raise ValidationError(f"{label}(): `include_secrets` must be True or False")
        response = await self._request(
            "GET",
            f"/block_types/slug/{path_param(slug)}/block_documents/name/{path_param(name)}",
            params={"include_secrets": include_secrets},
            timeout=timeout,
        )
        document: models.BlockDocument = decode(response, models.BlockDocument)
        return document


class AsyncAutomationsLookups(AsyncAPIResource):
    """``client.automations.read_by_name``."""

    async def read_by_name(
        self, name: str, *, timeout: Timeout = NOT_GIVEN
    ) -> list[models.Automation]:
        """Every automation named ``name`` (names need not be unique); empty if none."""
        label = "automations.read_by_name"
        name = _name(label, "name", name, "pass the automation's name")
        body = check_body(
            label,
            {"automations": {"name": {"any_": [name]}}},
            models.Body_read_automations_automations_filter_post,
        )
        response = await self._request("POST", "/automations/filter", json=body, timeout=timeout)
        automations: list[models.Automation] = decode(response, list[models.Automation])
        return automations


class AsyncConcurrencyLimitsV2Lookups(AsyncAPIResource):
    """``client.concurrency_limits_v2.upsert``."""

    async def upsert(
        self,
        name: str,
        limit: int,
        *,
        active: bool | UnsetType = UNSET,
        slot_decay_per_second: float | UnsetType = UNSET,
        timeout: Timeout = NOT_GIVEN,
    ) -> models.GlobalConcurrencyLimitResponse:
        """Create the global concurrency limit ``name``, or update its ``limit`` if it exists.

        Returns the limit as the server now has it. ``active`` and ``slot_decay_per_second``
        are set only when given.
        """
        label = "concurrency_limits_v2.upsert"
        name = _name(label, "name", name, "pass the limit's name")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ValidationError(f"{label}(): `limit` must be an int (slots), got {limit!r}")
        create = models.ConcurrencyLimitV2Create(
            name=name, limit=limit, active=active, slot_decay_per_second=slot_decay_per_second
        )
        body = check_body(label, create, models.ConcurrencyLimitV2Create)
        path = f"/v2/concurrency_limits/{path_param(name)}"
        try:
            response = await self._request("GET", path, timeout=timeout)
        except NotFoundError:
            await self._request("POST", "/v2/concurrency_limits/", json=body, timeout=timeout)
        else:
            current: models.GlobalConcurrencyLimitResponse = decode(
                response, models.GlobalConcurrencyLimitResponse
            )
            update = models.ConcurrencyLimitV2Update(
                limit=limit, active=active, slot_decay_per_second=slot_decay_per_second
            )
            changed = current.limit != limit or any(
                value is not UNSET and getattr(current, field) != value
                for field, value in (
                    ("active", active),
                    ("slot_decay_per_second", slot_decay_per_second),
                )
            )
            if changed:
                patch = check_body(label, update, models.ConcurrencyLimitV2Update)
                await self._request("PATCH", path, json=patch, timeout=timeout)
            else:
                return current
        result: models.GlobalConcurrencyLimitResponse = decode(
            await self._request("GET", path, timeout=timeout), models.GlobalConcurrencyLimitResponse
        )
        return result


class AsyncVariablesLookups(AsyncAPIResource):
    """``client.variables.get``."""

    async def get(self, name: str, default: Any = None, *, timeout: Timeout = NOT_GIVEN) -> Any:
        """The value of the variable ``name``, or ``default`` when there is no such variable."""
        name = _name("variables.get", "name", name, "pass the variable's name")
        try:
            response = await self._request(
                "GET", f"/variables/name/{path_param(name)}", timeout=timeout
            )
        except NotFoundError:
            return default
        return decode(response, models.Variable).value
