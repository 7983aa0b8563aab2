"""The JSON behind the live page: the flows' graphs laid out, their stats, and tapped messages.

Nothing a flow keeps secret leaves here: ``/api/flow`` shows what ``flowengine graph``
shows (ids, types, names, ports, wires; no config values), and every tapped message has
each secret of the loaded flows replaced by ``***`` wherever it occurs in text.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from typing import Any

from flowengine.graph import FlowGraph
from flowengine.health import Health
from flowengine.logs import REDACTED
from flowengine.message import Message
from flowengine.node import ERRORS_PORT
from flowengine.stats import node_stats


def layout(flow: FlowGraph) -> dict[str, tuple[int, int]]:
    """Return ``node id -> (column, row)``: left to right by topology, a column per longest-path depth.

    A cycle (allowed only through nodes that accept one) is laid out by its condensation.
    """
    import networkx as nx

    condensed = nx.condensation(nx.DiGraph(flow.graph))
    depth: dict[int, int] = {}
    for component in nx.topological_sort(condensed):
        preds = list(condensed.predecessors(component))
        depth[component] = 1 + max(depth[p] for p in preds) if preds else 0
    rows: dict[int, int] = {}
    placed: dict[str, tuple[int, int]] = {}
    for node_id in flow.graph.nodes:  # file order within a column
        column = depth[condensed.graph["mapping"][node_id]]
        placed[node_id] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return placed


def flow_json(flow: FlowGraph) -> dict[str, Any]:
    """Return one flow's nodes (with their place) and wires: no config values, hence no secrets."""
    places = layout(flow)
    nodes = []
    for spec in flow.enabled():
        column, row = places[spec.id]
        nodes.append({
            "id": spec.id, "type": spec.type, "role": spec.role, "name": spec.name,
            "ports": [*spec.node_class.output_ports(spec.config), ERRORS_PORT], "column": column, "row": row,
        })
    wires = [{"from": source, "port": data["port"], "to": target}
             for source, target, data in flow.graph.edges(data=True)]
    return {"name": flow.name, "nodes": nodes, "wires": wires}


def flows_json(health: Health) -> dict[str, Any]:
    """Return ``/api/flow``: every running flow."""
    flows = [flow_json(state.run.flow) for state in health.flows.values() if state.run is not None]
    return {"flows": flows}


def stats_json(health: Health) -> dict[str, Any]:
    """Return ``/api/stats``: readiness, and every node's counters and state, per flow."""
    flows = {}
    for name, state in health.flows.items():
        flows[name] = {"ready": state.ready, "reasons": state.reasons(),
                       "nodes": {stats.node: stats.as_json() for stats in node_stats(state)}}
    return {"ready": health.ready, "reasons": health.reasons(), "status": health.summary(), "flows": flows}


def redact(value: Any, secrets: Collection[str]) -> Any:
    """Return ``value`` (a JSON-ready structure) with every secret inside its text replaced by ``***``."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(str(key), secrets): redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    return value


def _json_ready(value: Any) -> Any:
    """Payloads may hold bytes (``format: bytes``): shown as base64 text, like anything else JSON lacks."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def tapped_json(sequence: int, port: str, msg: Message, secrets: Collection[str]) -> dict[str, Any]:
    """Return one tapped message: its number, the port (``in`` for a sink's input), topic, payload, meta."""
    entry = {"seq": sequence, "port": port, "topic": msg.topic, "payload": _json_ready(msg.payload),
             "meta": _json_ready(msg.meta)}
    return dict(redact(entry, secrets))
