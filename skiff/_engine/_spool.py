"""The spool: reports that could not be sent, kept on disk for a later process.

Only with ``SKIFF_SPOOL_DIR`` set (on Lambda, point it at ``/tmp``). A spool file is a
JSON list of records, in the order the runs produced them::

    {"op": "create", "ref": REF, "flow": NAME, "body": {...}}       a flow-run create
    {"op": "request", "method": M, "path": P, "body": ..., "cls": C}  any other report

A run the server had not given an id yet appears as ``skiff-ref-REF`` in paths and
bodies; the replaying process puts in the id that its replay of the create returned.
A replayed create first looks for the run its marker names, and task-run events carry
their own ids, so a create or an event that did reach the server before it was spooled
is not duplicated.

Exactly once: a process claims a file by renaming it (atomic, so one process wins), reads
it and deletes it at once. What it then cannot send goes to its own spool again.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from skiff._engine._items import (
    CONTROL_SIZE,
    KEEP,
    PLACEHOLDER,
    CreateSpec,
    DeadRun,
    Item,
    RunRef,
    Unresolved,
    spooling,
)

__all__ = ["claim", "to_items", "to_records", "write"]

PREFIX = "skiff-spool-"
_PLACEHOLDER = re.compile(re.escape(PLACEHOLDER) + "([0-9a-f]{32})")
_encode = msgspec.json.encode


def to_records(items: Iterable[Item]) -> tuple[list[dict[str, Any]], list[Item]]:
    """Spool records for ``items``, and the items that cannot be spooled yet.

    An item that points at a run whose create is not among ``items`` (it is being sent
    right now) stays in memory: spooled without its create, it could never be replayed.
    """
    records: list[dict[str, Any]] = []
    created: set[str] = set()
    kept: list[Item] = []
    with spooling():
        for item in items:
            if item.skip is not None and item.skip():
                continue
            try:
                built = item.build()
            except DeadRun:
                continue
            except Unresolved:
                kept.append(item)
                continue
            if isinstance(built, CreateSpec):
                created.add(built.run.ref)
                records.append(
                    {
                        "op": "create",
                        "ref": built.run.ref,
                        "flow": built.flow_name,
                        "body": built.body,
                    }
                )
                continue
            if item.kind in ("event", "log"):
                method, path, body = "POST", "/events" if item.kind == "event" else "/logs/", built
            else:
                method, path, body = built
            if isinstance(body, bytes):
                body = msgspec.Raw(body)
            if not set(_PLACEHOLDER.findall(path + _encode(body).decode())) <= created:
                kept.append(item)
                continue
            last = records[-1] if records else None
            if (
                item.kind in ("event", "log")
                and last is not None
                and last.get("path") == path
                and last.get("cls") == item.cls
            ):
                last["body"].append(body)
                continue
            batched = [body] if item.kind in ("event", "log") else body
            records.append(
                {"op": "request", "method": method, "path": path, "body": batched, "cls": item.cls}
            )
    return records, kept


def write(directory: str, records: list[dict[str, Any]]) -> str:
    """Write one spool file atomically; returns its path (raises OSError)."""
    path = os.path.join(directory, f"{PREFIX}{time.time_ns()}-{os.getpid()}.json")
    os.makedirs(directory, exist_ok=True)
    with open(path + ".tmp", "wb") as out:
        out.write(_encode(records))
    os.replace(path + ".tmp", path)
    return path


def claim(directory: str, on_error: Callable[[str, Exception], None]) -> list[dict[str, Any]]:
    """Take every spool file in ``directory`` (oldest first) and return their records."""
    try:
        names = sorted(
            n for n in os.listdir(directory) if n.startswith(PREFIX) and n.endswith(".json")
        )
    except OSError:
        return []
    records: list[dict[str, Any]] = []
    for name in names:
        path = os.path.join(directory, name)
        claimed = f"{path}.{os.getpid()}.replaying"
        try:
            os.rename(path, claimed)
        except OSError:
            continue  # another process took it
        try:
            with open(claimed, "rb") as src:
                records.extend(msgspec.json.decode(src.read()))
        except (OSError, msgspec.DecodeError) as exc:
            on_error(path, exc)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(claimed)
    return records


def to_items(records: list[dict[str, Any]]) -> list[Item]:
    """Buffer items that replay ``records`` in order."""
    refs: dict[str, RunRef] = {}
    items: list[Item] = []
    for record in records:
        if record.get("op") == "create":
            run = refs.setdefault(record["ref"], RunRef(ref=record["ref"]))
            # The process that spooled it may have sent it before: look before creating.
            run.maybe_created = True
            spec = CreateSpec(record["flow"], record["body"], run)
            items.append(Item("create", KEEP, _const(spec), CONTROL_SIZE))
            continue
        raw = _encode(record["body"])
        path: str = record["path"]
        needed = {
            ref: refs.get(ref) or _orphan(ref) for ref in _PLACEHOLDER.findall(path + raw.decode())
        }
        build = _substitute(record["method"], path, raw, needed)
        items.append(Item("request", int(record.get("cls", KEEP)), build, CONTROL_SIZE + len(raw)))
    return items


def _orphan(ref: str) -> RunRef:
    # A placeholder whose create is not in the spool can never be filled in.
    run = RunRef(ref=ref)
    run.dead = True
    return run


def _substitute(
    method: str, path: str, raw: bytes, needed: dict[str, RunRef]
) -> Callable[[], tuple[str, str, bytes]]:
    from skiff._engine._items import run_id

    def build() -> tuple[str, str, bytes]:
        new_path, new_raw = path, raw
        for ref, run in needed.items():
            value = run_id(run)  # raises until the replayed create has landed
            assert value is not None
            new_path = new_path.replace(PLACEHOLDER + ref, value)
            new_raw = new_raw.replace((PLACEHOLDER + ref).encode(), value.encode())
        return method, new_path, new_raw

    return build


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value
