#!/usr/bin/env python3
"""Derive the server-version and server-limit tables from the stored OpenAPI specs.

    python scripts/spec_tables.py           write skiff/client/_spec_tables.py
    python scripts/spec_tables.py --check   exit 1 if it is out of date

Reads ``spec/prefect-server-<version>-openapi.json`` for the version skiff is generated for
and every older version stored beside it (dump one with ``python scripts/dump_spec.py
3.4.25``), and writes two tables:

* ``ADDED``: every operation of the current spec that an older spec lacks, with the newest
  measured version that lacks it and the oldest measured version that has it;
* ``LIMITS``: per request model (schemas reachable from a request body), the constraints the
  spec documents on its fields (``maximum``, ``minimum``, ``exclusiveMinimum``,
  ``maxItems``, ``minItems``, ``maxLength``, ``pattern``), which skiff checks before sending.

It fails if a response model of the current spec requires a field that an older spec's
model of the same name does not (the models would then reject that server's answers).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.generate import py_name  # noqa: E402
from skiff.client._constants import SERVER_VERSION  # noqa: E402

SPEC_DIR = ROOT / "spec"
OUT = ROOT / "skiff" / "client" / "_spec_tables.py"
METHODS = ("get", "post", "put", "patch", "delete")
CONSTRAINTS = (
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxItems",
    "minItems",
    "maxLength",
    "minLength",
    "pattern",
)
# Patterns too long to be a useful message (the RRule time zone list).
MAX_PATTERN = 200


def version_key(version: str) -> tuple[int, ...]:
    """'3.4.25' -> (3, 4, 25)."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def load_specs() -> dict[str, dict[str, Any]]:
    """Every stored spec by server version, oldest first."""
    specs = {}
    for path in SPEC_DIR.glob("prefect-server-*-openapi.json"):
        version = path.name.removeprefix("prefect-server-").removesuffix("-openapi.json")
        specs[version] = json.loads(path.read_text())
    if SERVER_VERSION not in specs:
        raise SystemExit(f"spec/prefect-server-{SERVER_VERSION}-openapi.json is missing")
    return dict(sorted(specs.items(), key=lambda item: version_key(item[0])))


def operations(spec: dict[str, Any]) -> set[str]:
    """'METHOD /path' for every operation of a spec."""
    return {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m in METHODS}


def added(specs: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Operation -> (newest measured version lacking it, oldest measured version having it)."""
    versions = list(specs)
    out: dict[str, tuple[str, str]] = {}
    for op in sorted(operations(specs[SERVER_VERSION])):
        lacking = [v for v in versions if op not in operations(specs[v])]
        if not lacking:
            continue
        newest_lacking = lacking[-1]
        having = [v for v in versions if version_key(v) > version_key(newest_lacking)]
        out[op] = (newest_lacking, having[0])
    return out


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _reachable(spec: dict[str, Any], roots: set[str]) -> set[str]:
    """``roots`` and every schema they refer to, transitively."""
    schemas = spec["components"]["schemas"]
    todo, seen = set(roots), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo |= _refs(schemas[name]) - seen
    return seen


def request_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of every schema reachable from a request body."""
    roots: set[str] = set()
    for item in spec["paths"].values():
        for method in METHODS:
            body = item.get(method, {}).get("requestBody")
            if body:
                roots |= _refs(body)
    return _reachable(spec, roots)


def response_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of every schema reachable from a response."""
    roots: set[str] = set()
    for item in spec["paths"].values():
        for method in METHODS:
            for response in item.get(method, {}).get("responses", {}).values():
                roots |= _refs(response)
    return _reachable(spec, roots)


def _constraints(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """The documented constraints of a field: on the field, or on its one non-null member."""
    members = [schema, *(m for m in schema.get("anyOf", []) if m.get("type") != "null")]
    out = []
    for member in members:
        for kind in CONSTRAINTS:
            if kind not in member:
                continue
            value = member[kind]
            if kind == "pattern" and len(value) > MAX_PATTERN:
                continue
            if isinstance(value, float) and value.is_integer() and member.get("type") == "integer":
                value = int(value)
            out.append((kind, value))
    return out


def limits(spec: dict[str, Any]) -> dict[str, list[tuple[str, str, str, Any]]]:
    """Model class name -> [(attribute, JSON name, constraint, bound)] for request models."""
    schemas = spec["components"]["schemas"]
    out: dict[str, list[tuple[str, str, str, Any]]] = {}
    for name in sorted(request_schemas(spec)):
        rows = []
        for prop, sub in schemas[name].get("properties", {}).items():
            for kind, value in _constraints(sub):
                rows.append((py_name(prop), prop, kind, value))
        if rows:
            out[re.sub(r"\W", "", name)] = rows
    return out


def response_gaps(specs: dict[str, dict[str, Any]]) -> list[str]:
    """Response fields the current models require that an older server may leave out."""
    current = specs[SERVER_VERSION]["components"]["schemas"]
    gaps = []
    for version, spec in specs.items():
        if version == SERVER_VERSION:
            continue
        older = spec["components"]["schemas"]
        for name in sorted(response_schemas(specs[SERVER_VERSION])):
            if name not in older:
                continue
            old_required = set(older[name].get("required", ()))
            for prop in current[name].get("required", ()):
                if prop not in old_required:
                    gaps.append(f"{name}.{prop} (not required by {version})")
    return gaps


def render(specs: dict[str, dict[str, Any]]) -> str:
    """The source of skiff/client/_spec_tables.py."""
    gaps = response_gaps(specs)
    if gaps:
        raise SystemExit(
            "response models require fields older servers may omit; make them optional in "
            "scripts/generate.py:\n  " + "\n  ".join(gaps)
        )
    versions = list(specs)
    lines = [
        "# Generated by scripts/spec_tables.py from spec/*-openapi.json. Do not edit.\n",
        '"""What the stored specs say about server versions and server-side limits.\n\n',
        "``ADDED`` maps each operation (``METHOD /path`` as in the spec) that an older measured\n",
        "server lacks to (the newest measured version lacking it, the oldest measured version\n",
        "having it). ``LIMITS`` maps a request model's class name to its fields' documented\n",
        "constraints: (attribute, JSON name, constraint, bound).\n",
        '"""\n\n',
        "from __future__ import annotations\n\n",
        "from typing import Any\n\n",
        f"MEASURED_VERSIONS: tuple[str, ...] = {tuple(versions)!r}\n",
        f"CURRENT_VERSION = {SERVER_VERSION!r}\n\n",
        "ADDED: dict[str, tuple[str, str]] = {\n",
    ]
    for op, (lacking, having) in added(specs).items():
        lines.append(f"    {op!r}: ({lacking!r}, {having!r}),\n")
    lines.append("}\n\nLIMITS: dict[str, tuple[tuple[str, str, str, Any], ...]] = {\n")
    for name, rows in limits(specs[SERVER_VERSION]).items():
        lines.append(f"    {name!r}: (\n")
        for row in rows:
            lines.append(f"        {row!r},\n")
        lines.append("    ),\n")
    lines.append("}\n")
    return "".join(lines)


def ruff_format(text: str, path: Path) -> str:
    """``text`` as ``ruff format`` would write it at ``path`` (generated code passes ruff)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "format", "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return result.stdout


def main(argv: list[str]) -> int:
    """Write the table, or with ``--check`` report whether it is current."""
    text = ruff_format(render(load_specs()), OUT)
    current = OUT.read_text() if OUT.exists() else None
    if "--check" in argv:
        if current != text:
            print(
                f"out of date, run python scripts/spec_tables.py: {OUT.relative_to(ROOT)}",
                file=sys.stderr,
            )
            return 1
        print("spec_tables: up to date")
        return 0
    OUT.write_text(text)
    print(f"spec_tables: {OUT.relative_to(ROOT)} {'unchanged' if current == text else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
