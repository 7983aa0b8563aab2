"""What node types say about themselves: summary, example, ports, and the flow JSON Schema."""

from __future__ import annotations

import inspect
import re
from typing import Any

from flowengine.flow import RESERVED_NODE_KEYS
from flowengine.node import ERRORS_PORT, Node

_EXAMPLE = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def node_summary(node_class: type[Node[Any]]) -> str:
    """Return the first line of the node class's docstring."""
    doc = inspect.getdoc(node_class) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def node_example(node_class: type[Node[Any]]) -> str | None:
    """Return the YAML example flow in the node class's docstring, dedented, or None."""
    doc = inspect.getdoc(node_class) or ""
    match = _EXAMPLE.search(doc)
    if match is None:
        return None
    lines = match.group(1).splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines).strip() + "\n"


def static_ports(node_class: type[Node[Any]]) -> list[str]:
    """Return the output ports the type always has, plus ``errors``."""
    return [*node_class.outputs, ERRORS_PORT]


def _wires_schema() -> dict[str, Any]:
    ids = {"type": "array", "items": {"type": "string"}}
    return {
        "description": "Where the outputs go: a list of node ids (the `out` port) or port -> ids.",
        "oneOf": [ids, {"type": "object", "additionalProperties": ids}],
    }


def flow_schema(types: dict[str, type[Node[Any]]]) -> dict[str, Any]:
    """Build the JSON Schema of a flow file from the registered node types' config models."""
    definitions: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    reserved = {
        "id": {"type": "string", "pattern": "^[a-z0-9_-]+$", "description": "Unique in the flow."},
        "type": {"type": "string"},
        "wires": _wires_schema(),
        "name": {"type": "string", "description": "A label for people."},
        "comment": {"type": "string"},
        "disabled": {"type": "boolean", "description": "A disabled node is not started."},
    }
    assert set(reserved) == set(RESERVED_NODE_KEYS)
    for name, node_class in sorted(types.items()):
        model_schema = node_class.config_model.model_json_schema(
            ref_template=f"#/$defs/{name}.{{model}}", mode="validation")
        for key, value in model_schema.pop("$defs", {}).items():
            definitions[f"{name}.{key}"] = value
        properties = {**reserved, **model_schema.get("properties", {})}
        properties["type"] = {"const": name, "description": node_summary(node_class)}
        branches.append({
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {
                "properties": properties,
                "required": sorted({"id", "type", *model_schema.get("required", [])}),
                "additionalProperties": False,
            },
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flowengine.dev/schema/flow.json",
        "title": "flowengine flow",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "nodes"],
        "properties": {
            "version": {"const": 1},
            "name": {"type": "string"},
            "state": {"type": "string", "description": "State file of the flow, or `memory`."},
            "http": {
                "description": "Serve /health, /ready, /metrics and the live page: HOST:PORT, or "
                               "{listen: HOST:PORT, token: TOKEN} (docs/http.md).",
                "oneOf": [
                    {"type": ["string", "integer"]},
                    {"type": "object", "additionalProperties": False, "required": ["listen"],
                     "properties": {"listen": {"type": ["string", "integer"]}, "token": {"type": "string"}}},
                ],
            },
            "nodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {"type": {"enum": sorted(types)}},
                    "allOf": branches,
                },
            },
        },
        "$defs": definitions,
    }
