"""Job variables: merge, check against the pool's template, render the job configuration.

Pure functions, except :func:`resolve_blocks` (it reads block documents). A flow run's
variables are the template's defaults, then the deployment's ``job_variables``, then the
run's own; every name must be one the template declares and every value must fit its
declared type, else :class:`~skiff.integrations.worker.JobVariablesError` names the
variable and the fix. Rendering follows Prefect's: a value that is exactly
``"{{ name }}"`` becomes the variable's value (any type), placeholders inside a longer
string are replaced by the value's text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from skiff.integrations.worker._dispatch import JobVariablesError

__all__ = ["check_variables", "merged_variables", "render", "resolve_blocks"]

_PLACEHOLDER = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")
_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def merged_variables(
    template: Mapping[str, Any], *layers: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The template's defaults overlaid by each layer in turn (later layers win)."""
    properties = (template.get("variables") or {}).get("properties") or {}
    merged = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    for layer in layers:
        merged.update(layer or {})
    return merged


def _is_block_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("$ref"), dict)


def _fits(value: Any, spec: Mapping[str, Any]) -> str | None:
    """Why ``value`` does not fit ``spec`` (None when it does)."""
    if value is None or _is_block_ref(value):
        return None
    declared = spec.get("type")
    kinds = [declared] if isinstance(declared, str) else list(declared or [])
    if not kinds and "anyOf" in spec:
        kinds = [k["type"] for k in spec["anyOf"] if isinstance(k, dict) and "type" in k]
    if kinds:
        ok = any(
            isinstance(value, _TYPES.get(kind, (object,)))
            and not (kind in ("integer", "number") and isinstance(value, bool))
            for kind in kinds
        )
        if not ok:
            return f"must be {' or '.join(kinds)}, got {type(value).__name__} {value!r}"
    if "enum" in spec and value not in spec["enum"]:
        return f"must be one of {spec['enum']}, got {value!r}"
    items = spec.get("additionalProperties")
    if isinstance(value, dict) and isinstance(items, dict):
        for key, item in value.items():
            why = _fits(item, items)
            if why is not None:
                return f"entry {key!r} {why}"
    return None


def check_variables(template: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
    """Raise :class:`JobVariablesError` for an unknown name or a value of the wrong type."""
    schema = template.get("variables") or {}
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for name, value in variables.items():
        spec = properties.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(properties), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(properties)}"
            raise JobVariablesError(
                f"job variable {name!r} is not in the work pool's base job template; {hint} "
                "(fix the deployment's or the run's job_variables)"
            )
        why = _fits(value, spec)
        if why is not None:
            raise JobVariablesError(
                f"job variable {name!r} {why}; fix the deployment's or the run's job_variables"
            )
    for name in schema.get("required") or []:
        if variables.get(name) is None:
            raise JobVariablesError(
                f"job variable {name!r} is required by the work pool's template; set it in the "
                "deployment's job_variables or the pool's defaults"
            )


def render(configuration: Any, variables: Mapping[str, Any]) -> Any:
    """``configuration`` with its ``{{ name }}`` placeholders filled in from ``variables``."""
    if isinstance(configuration, dict):
        return {key: render(value, variables) for key, value in configuration.items()}
    if isinstance(configuration, list):
        return [render(value, variables) for value in configuration]
    if not isinstance(configuration, str):
        return configuration
    whole = _PLACEHOLDER.fullmatch(configuration.strip())
    if whole:
        return variables.get(whole[1])

    def text(match: re.Match[str]) -> str:
        value = variables.get(match[1])
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(text, configuration)


async def resolve_blocks(
    variables: Mapping[str, Any], read_data: Callable[[str], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """``variables`` with each ``{"$ref": {"block_document_id": id}}`` replaced by its data."""
    out: dict[str, Any] = {}
    for name, value in variables.items():
        if _is_block_ref(value):
            doc_id = value["$ref"].get("block_document_id")
            if not doc_id:
                raise JobVariablesError(
                    f"job variable {name!r} references a block without a block_document_id"
                )
            value = await read_data(str(doc_id))
        out[name] = value
    return out
