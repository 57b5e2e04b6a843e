"""Block schemas and checksums, computed the way Prefect 3 computes them.

The server deduplicates schemas by checksum, so a schema that differs from Prefect's by one
byte would register a second schema for the same block type. The rules below are facts
measured against Prefect 3.9.1 (``prefect.blocks.core``); the code is skiff's own.

- fields: pydantic's validation JSON schema with ``#/definitions/{model}`` refs, ``$defs``
  renamed ``definitions``, every ``additionalProperties`` key found by walking *dicts only*
  dropped, and a ``position`` (declaration order) on each top-level property;
- plus ``block_type_slug``, ``description`` (the first text section of the class docstring,
  Google style), ``secret_fields`` and ``block_schema_references``;
- checksum: ``sha256:`` + sha256 of ``json.dumps([[fields], {}], sort_keys=True)`` where
  ``fields`` drops ``secret_fields`` (at any depth) and keeps only the definitions that are not
  nested blocks.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import unicodedata
from collections.abc import Generator, Iterable
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import pydantic

from skiff.blocks._types import SecretDict

if TYPE_CHECKING:
    from skiff.blocks._core import Block

__all__ = [
    "block_schema_fields",
    "checksum_of",
    "docstring_description",
    "nested_block_classes",
    "secret_fields_of",
    "slugify",
]

# Google-style section titles that end the docstring's first text section (griffe's list).
_SECTION_TITLES = frozenset(
    {
        "args", "arguments", "params", "parameters", "keyword args", "keyword arguments",
        "other args", "other arguments", "other params", "other parameters", "type args",
        "type arguments", "type params", "type parameters", "raises", "exceptions",
        "returns", "yields", "receives", "examples", "attributes", "functions", "methods",
        "classes", "type aliases", "modules", "warns", "warnings",
    }
)  # fmt: skip
_TITLE_LINE = re.compile(r"^(?P<type>[\w][\s\w-]*):(\s+(?P<title>[^\s].*))?\s*$")


def slugify(text: str) -> str:
    """A URL slug the way Prefect makes block type slugs: ``"AWS Credentials"`` -> ``aws-credentials``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _blank(line: str) -> bool:
    return not line or line.isspace()


def _starts_section(lines: list[str], i: int) -> bool:
    """Whether line ``i`` opens a Google-style section or admonition (``Example:`` + indent)."""
    if not _TITLE_LINE.match(lines[i]):
        return False
    if i > 0 and not _blank(lines[i - 1]):
        return False  # a title needs a blank line above it
    nxt = lines[i + 1] if i + 1 < len(lines) else None
    after = lines[i + 2] if i + 2 < len(lines) else None
    indented_next = nxt is not None and not _blank(nxt) and nxt.startswith(" ")
    indented_after = after is not None and not _blank(after) and after.startswith(" ")
    if not (indented_next or indented_after):
        return False
    # A blank line between the title and indented contents makes it plain text.
    return not (indented_after and nxt is not None and _blank(nxt))


def docstring_description(doc: str | None) -> str | None:
    """The first text section of a Google-style docstring, stripped, as Prefect's block description.

    Text runs until the first section or admonition title (``Args:``, ``Example:``, ...)
    outside a code fence. Limitation: a docstring that *starts* with a section yields None
    here, where Prefect would take a later text section.
    """
    if doc is None:
        return None
    lines = inspect.cleandoc(doc.rstrip()).split("\n")
    text: list[str] = []
    in_fence = False
    for i, line in enumerate(lines):
        fence = line.lstrip(" ").startswith("```")
        if in_fence or fence:
            in_fence = in_fence != fence
        elif ":" in line and _starts_section(lines, i):
            break
        text.append(line)
    joined = "\n".join(text).strip()
    return joined or None


def _type_args(annotation: Any) -> tuple[Any, ...]:
    """Types nested in a union or a container annotation (only the yield type of a Generator)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return get_args(annotation)
    if isinstance(origin, type) and issubclass(origin, Iterable):
        args = get_args(annotation)
        return args[:1] if issubclass(origin, Generator) else args
    return ()


def _is_model_class(annotation: Any) -> bool:
    return (
        inspect.isclass(annotation)
        and get_origin(annotation) is None
        and issubclass(annotation, pydantic.BaseModel)
    )


def _is_secret_type(annotation: Any) -> bool:
    if annotation in (pydantic.SecretStr, pydantic.SecretBytes, pydantic.Secret):
        return True
    return get_origin(annotation) is pydantic.Secret


def _collect_secrets(path: str, annotation: Any, out: list[str]) -> None:
    if nested := _type_args(annotation):
        for arg in nested:
            _collect_secrets(path, arg, out)
    elif _is_model_class(annotation):
        for name, field in annotation.model_fields.items():
            if field.annotation is not None:
                _collect_secrets(f"{path}.{name}", field.annotation, out)
    elif inspect.isclass(annotation) and issubclass(annotation, SecretDict):
        out.append(f"{path}.*")  # every value under this key is secret
    elif _is_secret_type(annotation):
        out.append(path)


def secret_fields_of(model: type[pydantic.BaseModel]) -> list[str]:
    """Dotted paths of secret fields, ``name.*`` for secret dicts (duplicates kept, as Prefect)."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        if field.annotation is not None:
            _collect_secrets(name, field.annotation, out)
    return out


def _is_block_class(annotation: Any) -> bool:
    from skiff.blocks._core import Block

    return _is_model_class(annotation) and issubclass(annotation, Block)


def _blocks_in(annotation: Any) -> list[type[Block]]:
    found: list[type[Block]] = [annotation] if _is_block_class(annotation) else []
    for arg in _type_args(annotation):
        found.extend(_blocks_in(arg))
    return found


def nested_block_classes(model: type[pydantic.BaseModel]) -> dict[str, list[type[Block]]]:
    """Field name -> the block classes its annotation mentions (direct fields only)."""
    out: dict[str, list[type[Block]]] = {}
    for name, field in model.model_fields.items():
        blocks = _blocks_in(field.annotation)
        if blocks:
            out[name] = blocks
    return out


def schema_extra(schema: dict[str, Any], model: type[Block]) -> None:
    """pydantic ``json_schema_extra`` hook adding the block keys, for blocks and nested blocks."""
    schema["block_type_slug"] = model.get_block_type_slug()
    description = model.get_description()
    if description:
        schema["description"] = description
    else:
        schema.pop("description", None)
    schema["secret_fields"] = secret_fields_of(model)
    refs: dict[str, Any] = {}
    for name, blocks in nested_block_classes(model).items():
        entries = [
            {
                "block_type_slug": b.get_block_type_slug(),
                "block_schema_checksum": b.schema_checksum(),
            }
            for b in blocks
        ]
        refs[name] = entries[0] if len(entries) == 1 else entries
    schema["block_schema_references"] = refs


def _drop_keys(obj: Any, keys: frozenset[str]) -> Any:
    """A copy of ``obj`` without ``keys``, recursing through dicts only (lists are left as is)."""
    if not isinstance(obj, dict):
        return obj
    return {k: _drop_keys(v, keys) for k, v in obj.items() if k not in keys}


def _add_positions(schema: dict[str, Any], model: type[pydantic.BaseModel]) -> None:
    properties = schema.get("properties", {})
    for position, (name, field) in enumerate(model.model_fields.items()):
        key = field.alias or name
        if key in properties:
            properties[key]["position"] = position


def _all_nested_blocks(model: type[pydantic.BaseModel]) -> dict[str, type[Block]]:
    found: dict[str, type[Block]] = {}
    for blocks in nested_block_classes(model).values():
        for block in blocks:
            if block.__name__ not in found:
                found[block.__name__] = block
                for name, deeper in _all_nested_blocks(block).items():
                    found.setdefault(name, deeper)
    return found


def block_schema_fields(model: type[Block]) -> dict[str, Any]:
    """The ``fields`` of the block schema, exactly as Prefect sends them."""
    schema = model.model_json_schema(ref_template="#/definitions/{model}")
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    schema = _drop_keys(schema, frozenset({"additionalProperties"}))
    _add_positions(schema, model)
    if "definitions" in schema:
        nested = _all_nested_blocks(model)
        for name, definition in schema["definitions"].items():
            if name in nested:
                _add_positions(definition, nested[name])
    return schema  # type: ignore[no-any-return]


def _refs_in(obj: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(obj, dict):
        if ref := obj.get("$ref"):
            found.append(ref)
        for value in obj.values():
            found.extend(_refs_in(value))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_refs_in(item))
    return found


def _plain_definitions(obj: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """Definitions reachable from ``obj`` that are not nested blocks (those have their own schema)."""
    out: dict[str, Any] = {}
    for ref in _refs_in(obj):
        if not isinstance(ref, str):
            continue
        key = ref.replace("#/definitions/", "")
        definition = definitions.get(key)
        if definition and definition.get("block_type_slug") is None:
            out = {**out, key: definition, **_plain_definitions(definition, definitions)}
    return out


def checksum_of(fields: dict[str, Any]) -> str:
    """The schema checksum Prefect and the server compute for these ``fields``."""
    hashed = _drop_keys(fields, frozenset({"secret_fields"}))
    if hashed.get("definitions"):
        plain = _plain_definitions(hashed, hashed["definitions"])
        if plain:
            hashed["definitions"] = plain
        else:
            hashed.pop("definitions")
    payload = json.dumps([[hashed], {}], sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
