"""Artifacts: Prefect's ``prefect.artifacts`` functions, recording the same artifacts.

Each ``create_*`` function validates its arguments (a :class:`~skiff.ValidationError`, which
is a ``ValueError`` like pydantic's, names the argument and the fix), formats the data as
Prefect does, and creates the artifact for the current flow and task run:

=========================  ========  ==================================================
function                   type      data sent
=========================  ========  ==================================================
create_markdown_artifact   markdown  the markdown, as is
create_link_artifact       markdown  ``[link_text](link)``, or ``[link](link)``
create_table_artifact      table     ``json.dumps`` of the table, NaN as null
create_progress_artifact   progress  a float, clamped to 0..100 with a warning
create_image_artifact      image     the image URL, as is
=========================  ========  ==================================================

They return the artifact's id. Called from async code (an async flow or task, or a running
event loop outside any run) they return a coroutine instead, as Prefect's do; the
``acreate_*`` twins are always async. Outside any run they warn (``FutureWarning``) and
create the artifact with a client built from the environment (``PREFECT_API_URL``).

Inside a flow run an outage never blocks the flow: the create is buffered and sent when the
server is back (``skiff.flush()`` waits for it), and the function returns a
:class:`PendingArtifact` instead of the id. ``update_progress_artifact`` accepts it like an
id. The rules are in :mod:`skiff._engine._artifacts`.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
import uuid
from typing import TYPE_CHECKING, Any

from skiff._engine._artifacts import (
    PendingArtifact,
    acreate_artifact,
    aupdate_artifact,
    create_artifact,
    update_artifact,
)
from skiff._engine._dispatch import dispatch
from skiff._exceptions import ValidationError

if TYPE_CHECKING:
    from skiff.client import AsyncClient, Client

__all__ = [
    "PendingArtifact",
    "acreate_image_artifact",
    "acreate_link_artifact",
    "acreate_markdown_artifact",
    "acreate_progress_artifact",
    "acreate_table_artifact",
    "aupdate_progress_artifact",
    "create_image_artifact",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_progress_artifact",
    "create_table_artifact",
    "update_progress_artifact",
]

logger = logging.getLogger("skiff.artifacts")

_KEY = re.compile(r"^[a-z0-9-]*$")
Table = dict[str, list[Any]] | list[dict[str, Any]] | list[list[Any]]
ArtifactId = uuid.UUID | PendingArtifact


# ---------------------------------------------------------------------- validation
def _str(label: str, argument: str, value: object, *, optional: bool = True) -> Any:
    """``value`` if it is a string (or None when ``optional``), else a ValidationError."""
    if (value is None and optional) or isinstance(value, str):
        return value
    wanted = "a string or None" if optional else "a string"
    raise ValidationError(f"{label}(): `{argument}` must be {wanted}, got {value!r}")


def _fields(label: str, kind: str, key: object, description: object, data: Any) -> dict[str, Any]:
    key = _str(label, "key", key)
    if isinstance(key, str) and not _KEY.match(key):
        raise ValidationError(
            f"{label}(): invalid `key` {key!r}: Artifact key must only contain lowercase "
            "letters, numbers, and dashes (e.g. 'weekly-report')"
        )
    return {
        "type": kind,
        "key": key,
        "description": _str(label, "description", description),
        "data": data,
    }


def _table(label: str, table: object) -> Table:
    """The table if it is a dict of lists, a list of dicts or a list of lists (tuples too)."""
    shape = (
        "a dict of column lists ({'a': [1, 2]}), a list of row dicts ([{'a': 1}]) "
        "or a list of row lists ([[1, 2]])"
    )
    if isinstance(table, dict):
        if all(isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in table.items()):
            return {k: list(v) for k, v in table.items()}
    elif isinstance(table, (list, tuple)):
        if all(isinstance(row, dict) and all(isinstance(k, str) for k in row) for row in table):
            return list(table)
        if all(isinstance(row, (list, tuple)) for row in table):
            return [list(row) for row in table]
    raise ValidationError(f"{label}(): `table` must be {shape}, got {table!r:.200}")


def _sanitize(item: Any) -> Any:
    """NaN becomes None, in any nesting (Prefect's ``TableArtifact._sanitize``)."""
    if isinstance(item, list):
        return [_sanitize(sub) for sub in item]
    if isinstance(item, dict):
        return {k: _sanitize(v) for k, v in item.items()}
    if isinstance(item, float) and math.isnan(item):
        return None
    return item


def _table_data(label: str, table: object) -> str:
    try:
        return json.dumps(_sanitize(_table(label, table)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{label}(): `table` must hold JSON values only: {exc}") from None


def _progress(label: str, progress: object) -> float:
    """A float in 0..100: numbers and numeric strings, as pydantic's lax float accepts them."""
    try:
        if isinstance(progress, (numbers.Real, str)):
            value = float(progress)
        else:
            raise TypeError
    except (TypeError, ValueError):
        raise ValidationError(
            f"{label}(): `progress` must be a number from 0 to 100, got {progress!r}"
        ) from None
    if math.isnan(value):
        raise ValidationError(f"{label}(): `progress` must be a number from 0 to 100, got nan")
    if not 0.0 <= value <= 100.0:
        logger.warning("ProgressArtifact received an invalid value, Progress: %s%%", value)
        value = max(0.0, min(value, 100.0))
        logger.warning("Interpreting as %s%% progress", value)
    return value


def _link(label: str, link: object, link_text: object) -> str:
    link = _str(label, "link", link, optional=False)
    link_text = _str(label, "link_text", link_text)
    return f"[{link_text}]({link})" if link_text else f"[{link}]({link})"


def _artifact_id(label: str, artifact_id: object) -> ArtifactId:
    if isinstance(artifact_id, (uuid.UUID, PendingArtifact)):
        return artifact_id
    try:
        return uuid.UUID(str(artifact_id))
    except ValueError:
        raise ValidationError(
            f"{label}(): `artifact_id` must be the id a create returned, got {artifact_id!r}"
        ) from None


def _update_body(label: str, progress: object, description: object) -> dict[str, Any]:
    description = _str(label, "description", description)
    body: dict[str, Any] = {"data": _progress(label, progress)}
    if description:
        body["description"] = description
    return body


# ---------------------------------------------------------------------- link
async def acreate_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: AsyncClient | None = None,
) -> ArtifactId:
    """Create a link artifact (markdown ``[link_text](link)``); returns its id.

    ``key`` (lowercase letters, numbers and dashes) makes it show on the Artifacts page.
    ``client`` is used outside a flow run.
    """
    label = "acreate_link_artifact"
    data = _link(label, link, link_text)
    fields = _fields(label, "markdown", key, description, data)
    return await acreate_artifact(fields, client, stacklevel=2)


@dispatch(acreate_link_artifact)
def create_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: Client | None = None,
) -> ArtifactId:
    """Create a link artifact (markdown ``[link_text](link)``); returns its id.

    ``key`` (lowercase letters, numbers and dashes) makes it show on the Artifacts page.
    ``client`` is used outside a flow run. Example::

        @flow
        def my_flow():
            create_link_artifact("https://www.prefect.io", link_text="Prefect", key="prefect")
    """
    label = "create_link_artifact"
    fields = _fields(label, "markdown", key, description, _link(label, link, link_text))
    return create_artifact(fields, client, stacklevel=3)


# ---------------------------------------------------------------------- markdown
async def acreate_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a markdown artifact; returns its id."""
    label = "acreate_markdown_artifact"
    data = _str(label, "markdown", markdown, optional=False)
    return await acreate_artifact(_fields(label, "markdown", key, description, data), stacklevel=2)


@dispatch(acreate_markdown_artifact)
def create_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a markdown artifact; returns its id.

    ``key`` (lowercase letters, numbers and dashes) makes it show on the Artifacts page.
    Example::

        @flow
        def my_flow():
            create_markdown_artifact("## Prefect", key="prefect-markdown")
    """
    label = "create_markdown_artifact"
    data = _str(label, "markdown", markdown, optional=False)
    return create_artifact(_fields(label, "markdown", key, description, data), stacklevel=3)


# ---------------------------------------------------------------------- table
async def acreate_table_artifact(
    table: Table, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a table artifact; returns its id."""
    label = "acreate_table_artifact"
    data = _table_data(label, table)
    return await acreate_artifact(_fields(label, "table", key, description, data), stacklevel=2)


@dispatch(acreate_table_artifact)
def create_table_artifact(
    table: Table, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a table artifact from a list of row dicts, a dict of columns or a list of rows.

    The server gets ``json.dumps(table)`` (NaN as null); returns the artifact's id. Example::

        create_table_artifact([{"name": "John", "age": 30}], key="people")
    """
    label = "create_table_artifact"
    data = _table_data(label, table)
    return create_artifact(_fields(label, "table", key, description, data), stacklevel=3)


# ---------------------------------------------------------------------- progress
async def acreate_progress_artifact(
    progress: float, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a progress artifact (a percentage, 0 to 100); returns its id."""
    label = "acreate_progress_artifact"
    data = _progress(label, progress)
    return await acreate_artifact(_fields(label, "progress", key, description, data), stacklevel=2)


@dispatch(acreate_progress_artifact)
def create_progress_artifact(
    progress: float, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create a progress artifact (a percentage, 0 to 100); returns its id.

    Out-of-range values are clamped with a warning, as Prefect does. Inside a flow run during
    an outage the id is a :class:`PendingArtifact`, which ``update_progress_artifact`` takes.
    """
    label = "create_progress_artifact"
    data = _progress(label, progress)
    return create_artifact(_fields(label, "progress", key, description, data), stacklevel=3)


async def aupdate_progress_artifact(
    artifact_id: ArtifactId,
    progress: float,
    description: str | None = None,
    client: AsyncClient | None = None,
) -> ArtifactId:
    """Set a progress artifact's progress (and description, when given); returns ``artifact_id``."""
    label = "aupdate_progress_artifact"
    target = _artifact_id(label, artifact_id)
    await aupdate_artifact(target, _update_body(label, progress, description), client)
    return target


@dispatch(aupdate_progress_artifact)
def update_progress_artifact(
    artifact_id: ArtifactId,
    progress: float,
    description: str | None = None,
    client: Client | None = None,
) -> ArtifactId:
    """Set a progress artifact's progress (and description, when given); returns ``artifact_id``.

    ``artifact_id`` is what ``create_progress_artifact`` returned: an id, or a
    :class:`PendingArtifact` whose create is still buffered (the update then goes with it).
    """
    label = "update_progress_artifact"
    target = _artifact_id(label, artifact_id)
    update_artifact(target, _update_body(label, progress, description), client)
    return target


# ---------------------------------------------------------------------- image
async def acreate_image_artifact(
    image_url: str, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create an image artifact showing a publicly reachable image URL; returns its id."""
    label = "acreate_image_artifact"
    data = _str(label, "image_url", image_url, optional=False)
    return await acreate_artifact(_fields(label, "image", key, description, data), stacklevel=2)


@dispatch(acreate_image_artifact)
def create_image_artifact(
    image_url: str, key: str | None = None, description: str | None = None
) -> ArtifactId:
    """Create an image artifact showing a publicly reachable image URL; returns its id."""
    label = "create_image_artifact"
    data = _str(label, "image_url", image_url, optional=False)
    return create_artifact(_fields(label, "image", key, description, data), stacklevel=3)
