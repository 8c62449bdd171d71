"""The meta-description of case files (a JSON-Schema subset) and a small validator for it.

:func:`case_file_schema` describes the TOML structure of a case file; ``docs/case-format.md``
renders it. :func:`validate` checks a parsed file against it and reports each problem with a
path like ``case[2].tier``. The step lines inside ``steps`` are checked by
:mod:`pytest_anonvma.cases.steps`; cross-field rules (unique ids, ``needs`` covering the steps,
address-space names) by :mod:`pytest_anonvma.cases.corpus`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pytest_anonvma.capabilities import CAPABILITIES
from pytest_anonvma.constants import ERAS
from pytest_anonvma.designs import DESIGNS
from pytest_anonvma.tiers import CASE_TIERS

# What a case may name: the capabilities, the designs (every registered one) and the eras.
__all__ = ["CAPABILITIES", "DESIGNS", "ERAS", "case_file_schema", "validate"]

_CASE_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"


def case_file_schema() -> dict[str, Any]:
    """The JSON Schema of a case file, naming the designs registered now (docs/case-format.md
    renders it for the bundled ones)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pytest-anonvma conformance case file (TOML)",
        "type": "object",
        "properties": {
            "case": {
                "description": "the cases of this file, one [[case]] table each",
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/case"},
            },
        },
        "required": ["case"],
        "additionalProperties": False,
        "$defs": {
            "case": {
                "type": "object",
                "properties": {
                    "id": {
                        "description": "stable kebab-case id, unique across the corpus, "
                        "never reused",
                        "type": "string",
                        "pattern": _CASE_ID,
                    },
                    "about": {
                        "description": "one sentence: what the case shows",
                        "type": "string",
                        "minLength": 1,
                    },
                    "source": {
                        "description": "where the behaviour comes from: kernel file and test, "
                        "or a section of docs/spec.md",
                        "type": "string",
                        "minLength": 1,
                    },
                    "tier": {"description": "conformance tier", "enum": list(CASE_TIERS)},
                    "needs": {
                        "description": "capabilities the case needs (must cover its actions)",
                        "type": "array",
                        "items": {"enum": list(CAPABILITIES)},
                        "uniqueItems": True,
                    },
                    "designs": {
                        "description": "design families (or eras) the case applies to; "
                        "all when absent",
                        "type": "array",
                        "items": {"enum": [*DESIGNS, *ERAS]},
                        "minItems": 1,
                        "uniqueItems": True,
                    },
                    "steps": {
                        "description": "step lines (see the step grammar); # starts a comment",
                        "type": "string",
                        "minLength": 1,
                    },
                },
                "required": ["id", "about", "source", "tier", "needs", "steps"],
                "additionalProperties": False,
            },
        },
    }


_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(node, root)


def _check(
    value: Any,
    schema: dict[str, Any],
    root: dict[str, Any],
    path: str,
) -> Iterator[tuple[str, str]]:
    schema = _resolve(schema, root)
    expected = schema.get("type")
    if expected and not isinstance(value, _TYPES[expected]):
        yield (
            path,
            f"must be {'an' if expected[0] in 'aeiou' else 'a'} {expected}, "
            f"got {type(value).__name__}",
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        yield path, f"{value!r} is not one of {', '.join(map(str, schema['enum']))}"
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            yield path, "must not be empty"
        if "pattern" in schema and not re.match(schema["pattern"], value):
            yield path, f"{value!r} does not match {schema['pattern']}"
    if isinstance(value, list):
        yield from _check_array(value, schema, root, path)
    if isinstance(value, dict):
        yield from _check_object(value, schema, root, path)


def _check_array(
    value: list[Any],
    schema: dict[str, Any],
    root: dict[str, Any],
    path: str,
) -> Iterator[tuple[str, str]]:
    if len(value) < schema.get("minItems", 0):
        yield path, f"needs at least {schema['minItems']} item(s)"
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                yield path, f"{item!r} is listed twice"
            seen.append(item)
    if "items" in schema:
        for i, item in enumerate(value):
            yield from _check(item, schema["items"], root, f"{path}[{i}]")


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> Iterator[tuple[str, str]]:
    props = schema.get("properties", {})
    prefix = f"{path}." if path else ""
    for key in schema.get("required", ()):
        if key not in value:
            yield f"{prefix}{key}", "is missing"
    for key, item in value.items():
        if key in props:
            yield from _check(item, props[key], root, f"{prefix}{key}")
        elif schema.get("additionalProperties") is False:
            yield f"{prefix}{key}", f"unknown field (known: {', '.join(props)})"


def validate(document: Any, schema: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Check a parsed case file against ``schema`` (by default :func:`case_file_schema`): a list
    of ``(path, message)``, empty if valid.

    Paths look like ``case[2].needs[0]`` (the file's top level is the empty path).
    """
    schema = case_file_schema() if schema is None else schema
    return list(_check(document, schema, schema, ""))
